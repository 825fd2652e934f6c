import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { checkPayload } from '../../contract/validate.ts';
import { reviewApi } from '../../edge/src/review/api.ts';
import type { Closing } from '../../edge/src/review/book.ts';
import { ScoreHistogram } from '../../edge/src/review/store.ts';
import { whatIf, WhatIfSchema } from '../../edge/src/review/what-if.ts';
import type { Station } from '../../edge/src/station.ts';

const human = (score: number, verdict: 'pass' | 'reject', i: number): Closing => ({
  partId: `p${i}`,
  score,
  verdict,
  decidedBy: 'human',
  user: 'ana',
  at: i,
});

function history(): { closings: Closing[]; scores: ScoreHistogram } {
  const closings: Closing[] = [];
  for (let i = 0; i < 30; i++) closings.push(human(2 + i * 0.1, 'pass', i)); // 2.0 .. 4.9
  for (let i = 0; i < 10; i++) closings.push(human(5 + i, 'reject', 100 + i)); // 5 .. 14
  closings.push({ partId: 'late', score: 0.5, verdict: 'reject', decidedBy: 'timeout', at: 200 });
  const scores = new ScoreHistogram();
  for (let i = 0; i < 1000; i++) scores.add(i < 900 ? 1 : 8);
  return { closings, scores };
}

describe('threshold what-if', () => {
  it('counts the rejected parts a higher passBelow would have let through, and people-accepted parts a lower rejectAbove would reject', () => {
    const { closings, scores } = history();
    const answer = whatIf('cam', closings, { passBelow: 1.5, rejectAbove: 20 }, scores, {
      passBelow: 7,
      rejectAbove: 4,
    });
    expect(answer.settings).toHaveLength(1);
    // rejected below 7: 5 and 6 escape; accepted at or above 4: 4.0 .. 4.9, ten parts
    expect(answer.settings[0]).toMatchObject({ passBelow: 7, rejectAbove: 4, escapes: 2, falseRejects: 10 });
    expect(answer).toMatchObject({ decisions: 40, rejected: 10, accepted: 30, scored: 1000 });
  });

  it('projects the review rate from every score seen, audit included, and a timeout teaches nothing', () => {
    const { closings, scores } = history();
    const safe = whatIf('cam', closings, { passBelow: 1.5, rejectAbove: 20 }, scores, {
      passBelow: 1.5,
      rejectAbove: 20,
      auditShare: 0.1,
    }).settings[0];
    expect(safe.escapes).toBe(0); // the timed-out part at 0.5 is no person's rejection
    expect(safe.falseRejects).toBe(0);
    expect(safe.reviewRate).toBeCloseTo(0.1 + 0.1 * 0.9, 5);
    expect(safe.reviewed).toBe(40);
  });

  it('draws a curve over passBelow whose escapes never fall and review rate never rises as passBelow rises', () => {
    const { closings, scores } = history();
    const curve = whatIf('cam', closings, { passBelow: 1.5, rejectAbove: 20 }, scores, { steps: 30 }).settings;
    expect(curve).toHaveLength(30);
    for (let i = 1; i < curve.length; i++) {
      expect(curve[i].passBelow).toBeGreaterThan(curve[i - 1].passBelow);
      expect(curve[i].escapes).toBeGreaterThanOrEqual(curve[i - 1].escapes);
      expect(curve[i].reviewRate as number).toBeLessThanOrEqual((curve[i - 1].reviewRate as number) + 1e-12);
    }
    expect(curve[0].escapes).toBe(0);
    expect(curve.at(-1)?.escapes).toBe(9); // every rejection but the highest, at 14, falls below the top of the grid
  });

  it('carries the decided history for drawing: every decided score in one bin, people-accepted and people-rejected apart', () => {
    const { closings, scores } = history();
    const { distribution } = whatIf('cam', closings, { passBelow: 1.5, rejectAbove: 20 }, scores, { steps: 5 });
    expect(distribution.edges).toHaveLength(distribution.accepted.length + 1);
    expect(distribution.accepted.reduce((a, b) => a + b, 0)).toBe(30);
    expect(distribution.rejected.reduce((a, b) => a + b, 0)).toBe(10); // the timeout is no label
    expect(distribution.edges[0]).toBe(2);
    expect(distribution.edges.at(-1)).toBeCloseTo(14, 10);
    // the bins are in order: no accepted part (2 .. 4.9) in a bin above the first rejected one (5)
    const lastAccepted =
      distribution.accepted.length - 1 - [...distribution.accepted].reverse().findIndex((n) => n > 0);
    expect(lastAccepted).toBeLessThanOrEqual(distribution.rejected.findIndex((n) => n > 0));
  });

  it('answers over HTTP with what its schema publishes, and refuses crossed thresholds', async () => {
    const { closings, scores } = history();
    const station = {
      thresholds: { passBelow: 1.5, rejectAbove: 20 },
      whatIf: (ask: object) => whatIf('cam', closings, { passBelow: 1.5, rejectAbove: 20 }, scores, ask),
    } as unknown as Station;
    const app = Fastify();
    await app.register(reviewApi, { stations: new Map([['cam', station]]) });
    const curve = await app.inject({ url: '/api/stations/cam/what-if?steps=5' });
    expect(curve.statusCode).toBe(200);
    expect(checkPayload(WhatIfSchema, curve.json()).ok).toBe(true);
    expect(curve.json().settings).toHaveLength(5);
    const one = await app.inject({ url: '/api/stations/cam/what-if?passBelow=7&rejectAbove=20' });
    expect(one.json().settings[0]).toMatchObject({ escapes: 2, falseRejects: 0 });
    expect((await app.inject({ url: '/api/stations/cam/what-if?passBelow=9&rejectAbove=3' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/stations/nope/what-if' })).statusCode).toBe(404);
    await app.close();
  });
});

import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { checkPayload } from '../../contract/validate.ts';
import { propose } from '../../edge/src/decide/calibrate.ts';
import { reviewApi } from '../../edge/src/review/api.ts';
import type { Closing } from '../../edge/src/review/book.ts';
import { AgreementSchema, kappa, SecondOpinions } from '../../edge/src/review/second.ts';
import type { Station } from '../../edge/src/station.ts';
import { tempDir } from '../support/temp.ts';

const closing = (partId: string, user: string, verdict: 'pass' | 'reject', score = 1, category?: string): Closing => ({
  partId,
  score,
  verdict,
  decidedBy: 'human',
  user,
  at: 1,
  ...(category ? { category } : {}),
});
const opinion = (user: string, verdict: 'pass' | 'reject', category?: string) => ({
  user,
  verdict,
  at: 2,
  ...(category ? { category } : {}),
});

describe('second opinions', () => {
  it("computes Cohen's kappa as the textbook does", () => {
    const pairs: [string, string][] = [
      ...Array<[string, string]>(20).fill(['y', 'y']),
      ...Array<[string, string]>(15).fill(['n', 'n']),
      ...Array<[string, string]>(5).fill(['y', 'n']),
      ...Array<[string, string]>(10).fill(['n', 'y']),
    ];
    expect(kappa(pairs)).toBeCloseTo(0.4, 10);
    expect(
      kappa([
        ['y', 'y'],
        ['y', 'y'],
      ]),
    ).toBeNull(); // one label only: nothing to tell
  });

  it('queues the configured share again, blind, to someone else; refuses the same person; sends disagreements to a manager', () => {
    const second = new SecondOpinions(null, 0.5);
    expect(second.consider(closing('a', 'ana', 'reject', 5, 'scratch'), 0.2)).toBe(true);
    expect(second.consider(closing('b', 'ana', 'pass'), 0.7)).toBe(false); // drawn out
    expect(second.consider({ ...closing('c', 'ana', 'reject'), decidedBy: 'timeout' }, 0.1)).toBe(false); // a timeout is no opinion
    expect(second.waitingFor('ana')).toEqual([]);
    expect(second.waitingFor('bo')).toEqual([{ partId: 'a', score: 5 }]); // no first answer in it
    expect(second.give('a', opinion('ana', 'pass'))).toMatchObject({ kind: 'same_person' });
    expect(second.give('a', opinion('bo', 'pass'))).toMatchObject({ kind: 'disputed' });
    expect(second.give('a', opinion('cy', 'pass'))).toMatchObject({ kind: 'already' });
    expect(second.disputes().map((c) => c.partId)).toEqual(['a']);
    expect(second.settle('a', opinion('maya', 'reject', 'scratch'))).toMatchObject({ ok: true });
    expect(second.disputes()).toEqual([]);
    expect(second.settle('a', opinion('maya', 'pass'))).toMatchObject({ ok: false });
  });

  it('teaches calibration the settled answer, and nothing from a part still in dispute', () => {
    const second = new SecondOpinions(null, 1);
    const closings: Closing[] = [];
    for (let i = 0; i < 30; i++) closings.push(closing(`good${i}`, 'ana', 'pass', 1 + i * 0.01));
    for (let i = 0; i < 5; i++) closings.push(closing(`bad${i}`, 'ana', 'reject', 10 + i));
    // ana passed a faint defect at 2; bo says reject; the manager settles reject.
    closings.push(closing('faint', 'ana', 'pass', 2));
    second.consider(closings.at(-1) as Closing, 0);
    second.give('faint', opinion('bo', 'reject'));
    expect(second.learnFrom(closings).find((c) => c.partId === 'faint')).toBeUndefined(); // disputed: no label yet
    second.settle('faint', opinion('maya', 'reject'));
    const learnt = second.learnFrom(closings);
    expect(learnt.find((c) => c.partId === 'faint')?.verdict).toBe('reject');
    const proposal = propose(learnt, { passBelow: 1, rejectAbove: 30 }, null);
    expect(proposal.ok && proposal.thresholds.passBelow).toBeLessThanOrEqual(2); // the faint defect can no longer pass unseen
  });

  it('reports agreement per pair and per category, and override rates, and keeps it all across a restart', async () => {
    const dir = await tempDir('loupe-second-');
    const second = new SecondOpinions(dir, 1);
    const verdicts: ['pass' | 'reject', 'pass' | 'reject'][] = [
      ['reject', 'reject'],
      ['reject', 'reject'],
      ['pass', 'pass'],
      ['pass', 'pass'],
      ['pass', 'reject'],
      ['reject', 'pass'],
    ];
    verdicts.forEach(([a, b], i) => {
      second.consider(closing(`p${i}`, 'ana', a, 3, a === 'reject' ? 'scratch' : undefined), 0);
      second.give(`p${i}`, opinion('bo', b, b === 'reject' ? 'scratch' : undefined));
    });
    second.settle('p4', opinion('maya', 'reject', 'scratch')); // bo was right
    second.settle('p5', opinion('maya', 'reject', 'scratch')); // ana was right
    const report = second.agreement('cam');
    expect(checkPayload(AgreementSchema, report).ok).toBe(true);
    expect(report).toMatchObject({ cases: 6, disputes: 0, waiting: 0 });
    expect(report.pairs).toEqual([{ people: ['ana', 'bo'], n: 6, agreement: 4 / 6, kappa: expect.closeTo(1 / 3, 10) }]);
    expect(report.categories.map((c) => c.category)).toEqual(['good', 'scratch']);
    expect(report.people).toEqual([
      { user: 'ana', opinions: 6, settledAgainst: 1, overrideRate: 1 / 6 },
      { user: 'bo', opinions: 6, settledAgainst: 1, overrideRate: 1 / 6 },
    ]);
    expect(report.stationOverrideRate).toBeCloseTo(2 / 12, 10);
    expect(new SecondOpinions(dir, 1).agreement('cam')).toEqual(report);
  });

  it('takes second opinions and settlements over HTTP as the logged-in person, and answers agreement by its schema', async () => {
    const second = new SecondOpinions(null, 1);
    second.consider(closing('p1', 'ana', 'pass'), 0);
    const station = { id: 'cam', secondOpinions: second } as unknown as Station;
    const app = Fastify();
    app.addHook('preHandler', async (request) => {
      (request as unknown as { person: { name: string } }).person = { name: String(request.headers['x-person']) };
    });
    await app.register(reviewApi, { stations: new Map([['cam', station]]) });
    const as = (name: string) => ({ 'x-person': name });
    expect((await app.inject({ url: '/api/stations/cam/second-opinions', headers: as('ana') })).json()).toEqual({
      waiting: [],
    });
    expect((await app.inject({ url: '/api/stations/cam/second-opinions', headers: as('bo') })).json()).toEqual({
      waiting: [{ partId: 'p1', score: 1 }],
    });
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/api/stations/cam/second-opinions/p1',
          headers: as('ana'),
          payload: { decision: 'reject' },
        })
      ).statusCode,
    ).toBe(403);
    const given = await app.inject({
      method: 'POST',
      url: '/api/stations/cam/second-opinions/p1',
      headers: as('bo'),
      payload: { decision: 'reject', category: 'scratch' },
    });
    expect(given.json()).toEqual({ partId: 'p1', outcome: 'disputed' });
    expect((await app.inject({ url: '/api/stations/cam/disputes', headers: as('maya') })).json().disputes).toHaveLength(
      1,
    );
    const settled = await app.inject({
      method: 'POST',
      url: '/api/stations/cam/disputes/p1',
      headers: as('maya'),
      payload: { decision: 'reject', category: 'scratch' },
    });
    expect(settled.statusCode).toBe(201);
    expect(settled.json().settled).toMatchObject({ user: 'maya', verdict: 'reject' });
    const report = await app.inject({ url: '/api/stations/cam/agreement', headers: as('maya') });
    expect(checkPayload(AgreementSchema, report.json()).ok).toBe(true);
    await app.close();
  });
});

/**
 * Shadow models in process: the tally's rules, a candidate that falls behind, durability, promotion,
 * and a shadow run where candidates fitted on more and on fewer good parts than the live model watch
 * the same stream of parts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import { rule } from '../../edge/src/decide/policy.ts';
import type { Closing } from '../../edge/src/review/book.ts';
import { shadowApi } from '../../edge/src/review/shadow-api.ts';
import { PromotionSchema, ShadowSchema, tally, type ShadowScore } from '../../edge/src/review/shadow.ts';
import type { Manifest } from '../../edge/src/vision/manifest.ts';
import { loadModel } from '../../edge/src/vision/model.ts';
import { ShadowDesk } from '../../edge/src/vision/shadow.ts';
import type { CandidateModel, ShadowHost } from '../../edge/src/vision/shadow-record.ts';
import { writeSyntheticDataset } from '../../lab/dataset.ts';
import { fit } from '../../lab/fit.ts';
import { generatePart, rng } from '../../lab/synth.ts';
import { tempDir } from '../support/temp.ts';

const quiet = pino({ level: 'silent' });
const LIVE = { id: 'bracket', version: 'live' };

function resultOf(
  partId: string,
  score: number,
  verdict: Result['verdict'],
  reasons: Result['reasons'],
  thresholds = { passBelow: 10, rejectAbove: 20 },
): Result {
  return {
    schema: 'loupe/result@1',
    line: 'l',
    station: 'cam',
    partId,
    verdict,
    score,
    thresholds,
    model: LIVE,
    reasons,
    source: 'http',
    timings: { queueMs: 0, decodeMs: 0, inferMs: 0, totalMs: 0 },
    at: new Date().toISOString(),
  };
}

/** A station as the desk sees it, with the model swaps it was asked for. */
function fakeHost(): ShadowHost & { swapped: CandidateModel[]; waitingNow: number } {
  const host = {
    id: 'cam',
    modelRef: LIVE,
    waitingNow: 0,
    get waiting() {
      return host.waitingNow;
    },
    swapped: [] as CandidateModel[],
    async swapModel(next: CandidateModel) {
      host.swapped.push(next);
      host.modelRef = { id: next.manifest.id, version: next.manifest.version };
    },
  };
  return host;
}

/** A candidate whose scores are given per frame, answered when the test says so. */
function scriptedCandidate(
  version: string,
  score: (image: Buffer) => number,
): CandidateModel & { held: (() => void)[]; hold: boolean } {
  const manifest = {
    id: 'bracket',
    version,
    thresholds: { passBelow: 5, rejectAbove: 15 },
    fittedOn: { goodImages: 40 },
  } as unknown as Manifest;
  const model = {
    manifest,
    hold: false,
    held: [] as (() => void)[],
    inspect: (image: Buffer) =>
      new Promise<{ score: number; decodeMs: number; inferMs: number }>((resolve) => {
        const answer = () => resolve({ score: score(image), decodeMs: 0, inferMs: 0 });
        if (model.hold) model.held.push(answer);
        else answer();
      }),
    close: async () => undefined,
  };
  return model;
}

describe('shadow tallies', () => {
  it('judges each model by its own thresholds on the parts people decided, and counts reviews over every frame both scored', () => {
    const live = { passBelow: 10, rejectAbove: 20 };
    const scores: ShadowScore[] = [
      { partId: 'a', at: 1, live: 12, liveThresholds: live, candidate: 3 }, // person rejects: the candidate would let it through
      { partId: 'b', at: 2, live: 5, liveThresholds: live, audit: true, candidate: 8 }, // an audit sample a person rejects: the live model passed it
      { partId: 'c', at: 3, live: 15, liveThresholds: live, candidate: 30 }, // person accepts: the candidate would reject it
      { partId: 'd', at: 4, live: 25, liveThresholds: live, candidate: 2 }, // nobody decided (a model reject): only a disagreement
      { partId: 'e', at: 5, live: 1, liveThresholds: live, candidate: 12 }, // a plain pass: the candidate would ask a person
      { partId: 'f', at: 6, live: 14, liveThresholds: live, candidate: 9 }, // timed out: teaches nothing
    ];
    const closings: Closing[] = [
      { partId: 'a', score: 12, verdict: 'reject', decidedBy: 'human', user: 'ana', at: 10 },
      { partId: 'b', score: 5, verdict: 'reject', decidedBy: 'human', user: 'ana', at: 11 },
      { partId: 'c', score: 15, verdict: 'pass', decidedBy: 'human', user: 'ana', at: 12 },
      { partId: 'f', score: 14, verdict: 'reject', decidedBy: 'timeout', at: 13 },
    ];
    const t = tally(scores, closings, LIVE, {
      model: { id: 'bracket', version: 'c' },
      thresholds: { passBelow: 5, rejectAbove: 20 },
    });
    expect(t).toMatchObject({ scored: 6, decided: 3, audits: 1, defects: 2 });
    expect(t.live).toMatchObject({ escapes: 1, falseRejects: 0, reviews: 3, passes: 2, rejects: 1 });
    expect(t.live.reviewRate).toBeCloseTo(3 / 6);
    expect(t.candidate).toMatchObject({ escapes: 1, falseRejects: 1, reviews: 3, passes: 2, rejects: 1 });
    expect(t.disagreements).toEqual({ candidatePassesLiveRejects: 1, candidateRejectsLivePasses: 0 });
  });
});

describe('a candidate in shadow', () => {
  it('takes a frame only when idle and no live frame waits; the others are skipped and counted, and nothing waits for it', async () => {
    const dir = await tempDir('loupe-shadow-');
    const host = fakeHost();
    const candidate = scriptedCandidate('2', () => 7);
    const desk = new ShadowDesk({
      dir,
      liveDir: dir,
      host: () => host,
      closings: () => [],
      load: async () => candidate,
      log: quiet,
    });
    await desk.attach('/models/candidate', 'maria');
    candidate.hold = true;
    desk.offer(resultOf('p1', 12, 'review', ['borderline']), Buffer.from('1')); // taken
    desk.offer(resultOf('p2', 3, 'pass', []), Buffer.from('2')); // still busy: skipped
    desk.offer(resultOf('p3', 3, 'pass', []), Buffer.from('3')); // skipped
    expect(candidate.held).toHaveLength(1);
    candidate.held.splice(0).forEach((answer) => answer());
    await desk.settled();
    host.waitingNow = 2; // the live queue has frames waiting: the candidate lets go
    desk.offer(resultOf('p4', 3, 'pass', []), Buffer.from('4'));
    host.waitingNow = 0;
    candidate.hold = false;
    desk.offer(resultOf('p5', 25, 'reject', []), Buffer.from('5'));
    desk.offer({ ...resultOf('p6', 0, 'review', ['unreadable_image']), score: null }, Buffer.from('6')); // the live model did not score it: not offered
    await desk.settled();
    expect(desk.view().frames).toEqual({ scored: 2, skipped: 3, failed: 0 });
    // Across a restart, the counts come back from the file.
    const again = new ShadowDesk({
      dir,
      liveDir: dir,
      host: () => host,
      closings: () => [],
      load: async () => candidate,
      log: quiet,
    });
    await again.resume();
    expect(again.view().frames).toEqual({ scored: 2, skipped: 3, failed: 0 });
  });

  it('lets a replaced candidate finish the frame in hand before closing it, and starts the new one from nothing', async () => {
    const dir = await tempDir('loupe-shadow-');
    const first = scriptedCandidate('2', () => 7);
    const second = scriptedCandidate('3', () => 8);
    let closed = 0;
    first.close = async () => void closed++;
    const desk = new ShadowDesk({
      dir,
      liveDir: dir,
      host: fakeHost,
      closings: () => [],
      load: async (where) => (where.endsWith('2') ? first : second),
      log: quiet,
    });
    await desk.attach('/models/v2', 'maria');
    first.hold = true;
    desk.offer(resultOf('p1', 12, 'review', ['borderline']), Buffer.from('1'));
    const replacing = desk.attach('/models/v3', 'maria');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(0); // its frame is still in hand
    first.held.splice(0).forEach((answer) => answer());
    await replacing;
    expect(closed).toBe(1);
    expect(desk.view()).toMatchObject({
      candidate: { model: { version: '3' } },
      frames: { scored: 0, skipped: 0, failed: 0 },
    });
    desk.offer(resultOf('p2', 3, 'pass', []), Buffer.from('2'));
    await desk.settled();
    expect(desk.view().tallies).toMatchObject({ scored: 1, candidate: { model: { version: '3' } } });
  });

  it('comes back after a restart with its tallies recomputed from what is stored, and promotes through the model swap with the evidence in the lineage', async () => {
    const dir = await tempDir('loupe-shadow-');
    const modelDir = await tempDir('loupe-candidate-');
    const manifest = {
      id: 'bracket',
      version: '2',
      kind: 'loupe-padim',
      thresholds: { passBelow: 5, rejectAbove: 15 },
      lineage: { parent: 'bracket@1' },
    };
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(modelDir, 'manifest.json'), JSON.stringify(manifest));
    const closings: Closing[] = [
      { partId: 'p1', score: 12, verdict: 'reject', decidedBy: 'human', user: 'ana', at: 1 },
    ];
    const host = fakeHost();
    const load = async () => scriptedCandidate('2', (image) => Number(image.toString()));
    const desk = new ShadowDesk({
      dir,
      liveDir: '/models/live',
      host: () => host,
      closings: () => closings,
      load,
      log: quiet,
    });
    await desk.attach(modelDir, 'maria');
    desk.offer(resultOf('p1', 12, 'review', ['borderline']), Buffer.from('20'));
    await desk.settled();
    desk.offer(resultOf('p2', 3, 'pass', []), Buffer.from('9'));
    await desk.settled();
    const before = desk.view();
    expect(checkPayload(ShadowSchema, before).ok).toBe(true);
    expect(before.tallies).toMatchObject({
      scored: 2,
      decided: 1,
      candidate: { escapes: 0, rejects: 1, reviews: 1 },
      live: { escapes: 0, reviews: 1, passes: 1 },
    });

    // A new desk on the same folder, as after a SIGKILL: the same answer.
    const restarted = new ShadowDesk({
      dir,
      liveDir: '/models/live',
      host: () => host,
      closings: () => closings,
      load,
      log: quiet,
    });
    await restarted.resume();
    expect(restarted.view().tallies).toEqual(before.tallies);
    expect(restarted.view().candidate).toMatchObject({
      model: { version: '2' },
      attachedBy: 'maria',
      state: 'scoring',
      dir: modelDir,
    });

    const promotion = await restarted.promote('maria');
    expect(checkPayload(PromotionSchema, promotion).ok).toBe(true);
    expect(promotion).toMatchObject({
      by: 'maria',
      model: { id: 'bracket', version: '2' },
      replaced: LIVE,
      evidence: before.tallies,
    });
    expect(host.swapped).toHaveLength(1); // the station's own swap
    const after = restarted.view();
    expect(after.candidate).toBeNull();
    expect(after.live).toMatchObject({ dir: modelDir, model: { version: '2' } });
    expect(after.promotions).toEqual([promotion]);
    const written = JSON.parse(readFileSync(path.join(modelDir, 'manifest.json'), 'utf8')) as Manifest;
    expect(written.lineage).toMatchObject({
      parent: 'bracket@1',
      promotions: [{ station: 'cam', by: 'maria', evidence: before.tallies }],
    });

    // Restarted with the configuration still naming the replaced model: the promoted one is swapped in again.
    const host2 = fakeHost();
    const third = new ShadowDesk({
      dir,
      liveDir: '/models/live',
      host: () => host2,
      closings: () => closings,
      load,
      log: quiet,
    });
    await third.resume();
    expect(host2.swapped).toHaveLength(1);
    expect(third.view().promotions).toHaveLength(1);
    expect(third.view().live.dir).toBe(modelDir);
  });

  it('answers over HTTP with what its schema publishes, and refuses what it cannot do', async () => {
    const dir = await tempDir('loupe-shadow-');
    const desk = new ShadowDesk({
      dir,
      liveDir: dir,
      host: fakeHost,
      closings: () => [],
      load: async (where) =>
        where.includes('broken') ? Promise.reject(new Error('model.onnx is missing')) : scriptedCandidate('3', () => 1),
      log: quiet,
    });
    const app = Fastify();
    await app.register(shadowApi, { desks: new Map([['cam', desk]]) });
    const empty = await app.inject({ url: '/api/stations/cam/shadow' });
    expect(empty.statusCode).toBe(200);
    expect(checkPayload(ShadowSchema, empty.json()).ok).toBe(true);
    expect(empty.json()).toMatchObject({ candidate: null, tallies: null, promotions: [] });
    expect((await app.inject({ method: 'POST', url: '/api/stations/cam/shadow/promote' })).statusCode).toBe(404);
    expect(
      (
        await app.inject({ method: 'POST', url: '/api/stations/cam/shadow', payload: { model: '/models/broken' } })
      ).json(),
    ).toMatchObject({ error: 'invalid_model' });
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/api/stations/cam/shadow',
          payload: { model: '/m/c', passBelow: 9, rejectAbove: 3 },
        })
      ).statusCode,
    ).toBe(400);
    const attached = await app.inject({
      method: 'POST',
      url: '/api/stations/cam/shadow',
      payload: { model: '/m/c', passBelow: 2, rejectAbove: 4 },
    });
    expect(attached.statusCode).toBe(201);
    expect(checkPayload(ShadowSchema, attached.json()).ok).toBe(true);
    expect(attached.json().candidate).toMatchObject({ thresholds: { passBelow: 2, rejectAbove: 4 }, state: 'scoring' });
    const detached = await app.inject({ method: 'DELETE', url: '/api/stations/cam/shadow' });
    expect(detached.json()).toMatchObject({ candidate: null });
    expect((await app.inject({ url: '/api/stations/nope/shadow' })).statusCode).toBe(404);
    await app.close();
  });
});

describe('a shadow run', () => {
  let work: string;
  const models: Record<'worse' | 'live' | 'better', string> = { worse: '', live: '', better: '' };
  beforeAll(async () => {
    work = await tempDir('loupe-shadow-run-');
    // The same kind of part, fitted on 5, 15 and 40 good parts.
    for (const [name, count] of [
      ['worse', 5],
      ['live', 15],
      ['better', 40],
    ] as const) {
      const data = path.join(work, `data-${name}`);
      await writeSyntheticDataset({ out: data, seed: 40 + count, count, categories: ['bracket'] });
      await fit({
        data: path.join(data, 'bracket'),
        out: path.join(work, name),
        id: 'bracket',
        version: name,
        method: 'aligned',
      });
      models[name] = path.join(work, name);
    }
  }, 60_000);

  it('shows a candidate fitted on more parts better than the live model, and one fitted on fewer worse, from the same stream', async () => {
    const live = await loadModel(models.live);
    const thresholds = live.manifest.thresholds;
    const closings: Closing[] = [];
    const host = { ...fakeHost(), modelRef: { id: 'bracket', version: 'live' } };
    const desks = await Promise.all(
      (['better', 'worse'] as const).map(async (name) => {
        const desk = new ShadowDesk({
          dir: path.join(work, `state-${name}`),
          liveDir: models.live,
          host: () => host,
          closings: () => closings,
          load: (dir) => loadModel(dir),
          log: quiet,
        });
        await desk.resume();
        await desk.attach(models[name], 'maria');
        return desk;
      }),
    );
    // A quarter of the parts defective; a fifth of the passed ones audited; people decide from the truth.
    const draw = rng(7);
    for (let i = 0; i < 80; i++) {
      const part = await generatePart({
        category: 'bracket',
        seed: 999,
        index: i,
        defect: i % 4 === 0 ? undefined : null,
      });
      const { score } = await live.inspect(part.image);
      const decision = rule(score, { thresholds, autoReject: true, auditShare: 0.2 }, draw());
      const result = resultOf(`P-${i}`, score, decision.verdict, decision.reasons, thresholds);
      if (decision.verdict === 'review')
        closings.push({
          partId: result.partId,
          score,
          verdict: part.defect ? 'reject' : 'pass',
          decidedBy: 'human',
          user: 'ana',
          at: i,
        });
      for (const desk of desks) desk.offer(result, part.image);
      await Promise.all(desks.map((desk) => desk.settled()));
    }
    const [better, worse] = desks.map((desk) => desk.view());
    for (const view of [better, worse]) {
      expect(checkPayload(ShadowSchema, view).ok).toBe(true);
      expect(view.frames).toEqual({ scored: 80, skipped: 0, failed: 0 });
    }
    const b = better.tallies!;
    const w = worse.tallies!;
    expect(b.decided).toBe(w.decided);
    expect(b.decided).toBeGreaterThan(10);
    const mistakes = (t: typeof b.live) => t.escapes + t.falseRejects;
    // The live column is the same on both desks: the same frames, the same people.
    expect(b.live).toEqual(w.live);
    expect(better.candidate?.goodImages).toBeGreaterThan(better.live.goodImages as number);
    expect(worse.candidate?.goodImages).toBeLessThan(worse.live.goodImages as number);
    // Better: fewer parts for people, no more mistakes on what people decided.
    expect(b.candidate.reviewRate as number).toBeLessThan(b.live.reviewRate as number);
    expect(mistakes(b.candidate)).toBeLessThanOrEqual(mistakes(b.live));
    // Worse: more parts for people and more mistakes.
    expect(w.candidate.reviewRate as number).toBeGreaterThan(w.live.reviewRate as number);
    expect(mistakes(w.candidate)).toBeGreaterThan(mistakes(w.live));
    await live.close();
    await Promise.all(desks.map((desk) => desk.close()));
  }, 30_000);
});

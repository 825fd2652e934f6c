import { afterEach, describe, expect, it } from 'vitest';
import { FrameBytes } from '../../edge/src/ingest/frame-bytes.ts';
import { frame, startStation, type Built } from './fakes.ts';

describe('a station with more frames than it can inspect', () => {
  let built: Built | null = null;
  afterEach(async () => {
    await built?.stop();
    built = null;
  });

  it('sends the frame that finds the queue full to review as overload, says so on status, and clears it once drained', async () => {
    built = await startStation({ config: { queue: { maxDepth: 2, concurrency: 1 } } });
    const { station, model, link } = built;
    model.hold();
    const taken = [1, 2, 3].map((n) => station.submit(frame(`q-${n}`, 'score:0.5')));
    const turnedAway = await station.submit(frame('q-4', 'score:0.5'));
    expect(turnedAway).toMatchObject({
      verdict: 'review',
      reasons: ['overload'],
      score: null,
      detail: 'station queue full (2 frames waiting)',
    });
    expect(station.status('online')).toMatchObject({ overloaded: true, queueDepth: 3, openReviews: 1 });
    expect(link.statuses.at(-1)).toMatchObject({ overloaded: true });
    model.release();
    const results = await Promise.all(taken);
    expect(results.map((r) => r.verdict)).toEqual(['pass', 'pass', 'pass']);
    expect(link.statuses.at(-1)).toMatchObject({ overloaded: false, queueDepth: 0 });
    expect(model.inspected).toHaveLength(3); // the overloaded part was never scored
  });

  it('sends a frame to review as overload when frames in memory are at their cap', async () => {
    built = await startStation({ deps: { frameBytes: new FrameBytes(20) } });
    built.model.hold();
    const first = built.station.submit(frame('m-1', 'score:0.5 and some more bytes'.slice(0, 15)));
    const second = await built.station.submit(frame('m-2', 'score:0.5 twelve'));
    expect(second).toMatchObject({
      verdict: 'review',
      reasons: ['overload'],
      detail: 'frames in memory at their cap (20 bytes)',
    });
    built.model.release();
    expect((await first).verdict).toBe('pass');
  });
});

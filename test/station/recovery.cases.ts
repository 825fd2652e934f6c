import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLink, frame, startStation, type Built } from './fakes.ts';

describe('a station restarted on the same disk', () => {
  let built: Built | null = null;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    await built?.stop();
    built = null;
    vi.useRealTimers();
  });

  it('publishes its open reviews again and keeps their deadlines', async () => {
    const config = { review: { deadlineSeconds: 60 } };
    const first = await startStation({ config });
    await first.station.submit(frame('r-1', 'score:1.5'));
    await vi.advanceTimersByTimeAsync(40_000);
    await first.stop();

    built = await startStation({ config, dir: first.dir });
    expect(built.link.reviews()).toEqual([expect.objectContaining({ partId: 'r-1', reasons: ['borderline'] })]);
    expect(built.station.openPartIds()).toEqual(['r-1']);
    await vi.advanceTimersByTimeAsync(19_999);
    expect(built.link.verdicts()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(built.link.verdicts('r-1')).toEqual([expect.objectContaining({ decidedBy: 'timeout' })]);
  });

  it('answers an already answered frame again after the restart, and recognises a decision sent again', async () => {
    const first = await startStation();
    const answered = await first.station.submit(frame('r-2', 'score:0.5'));
    await first.station.submit(frame('r-3', 'score:1.5'));
    first.station.decide({ partId: 'r-3', decision: 'reject', user: 'ana' });
    await first.stop();

    built = await startStation({ dir: first.dir });
    expect(await built.station.submit(frame('r-2', 'score:0.5'))).toEqual(answered);
    built.station.decide({ partId: 'r-3', decision: 'reject', user: 'ana' });
    expect(built.link.errors()).toEqual([]);
    expect(built.link.verdicts()).toEqual([]);
    expect(built.model.inspected).toEqual([]);
  });

  it('sends parts that were in hand when it stopped to review as interrupted, never passed', async () => {
    const link = new FakeLink();
    link.interrupted = [
      { partId: 'r-4', source: 'mqtt', at: '2026-12-05T00:00:00.000Z' } as (typeof link.interrupted)[number],
    ];
    built = await startStation({ link });
    const [result] = await built.station.recovered;
    expect(result).toMatchObject({
      partId: 'r-4',
      verdict: 'review',
      reasons: ['interrupted'],
      score: null,
      source: 'mqtt',
    });
    expect(result.detail).toContain('taken 2026-12-05T00:00:00.000Z');
    expect(link.reviews()).toEqual([expect.objectContaining({ partId: 'r-4', reasons: ['interrupted'] })]);
    expect(built.model.inspected).toEqual([]);
  });
});

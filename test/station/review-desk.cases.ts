import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { frame, startStation, type Built } from './fakes.ts';

const decision = (partId: string, verdict: 'accept' | 'reject', more: Record<string, unknown> = {}) => ({
  partId,
  decision: verdict,
  user: 'ana',
  ...more,
});

describe('the review desk', () => {
  let built: Built | null = null;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    await built?.stop();
    built = null;
    vi.useRealTimers();
  });

  it('applies the default action when the deadline passes, and not a moment before', async () => {
    built = await startStation({ config: { review: { deadlineSeconds: 60, defaultAction: 'hold' } } });
    await built.station.submit(frame('d-1', 'score:1.5'));
    await vi.advanceTimersByTimeAsync(59_999);
    expect(built.link.verdicts('d-1')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(built.link.verdicts('d-1')).toEqual([
      expect.objectContaining({ verdict: 'hold', decidedBy: 'timeout', score: 1.5 }),
    ]);
    expect(built.link.sent.filter((s) => s.kind === 'clear')).toEqual([{ kind: 'clear', partId: 'd-1' }]);
    expect(built.station.openPartIds()).toEqual([]);
  });

  it('takes a person’s decision before the deadline, and the deadline then changes nothing', async () => {
    built = await startStation({ config: { review: { deadlineSeconds: 60 } } });
    await built.station.submit(frame('d-2', 'score:1.5'));
    built.station.decide(decision('d-2', 'reject', { category: 'scratch', requestId: 'q-1' }));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(built.link.verdicts('d-2')).toEqual([
      expect.objectContaining({
        verdict: 'reject',
        decidedBy: 'human',
        user: 'ana',
        category: 'scratch',
        requestId: 'q-1',
      }),
    ]);
  });

  it('ignores the same decision twice, refuses a conflicting one, an unknown part and an unknown category', async () => {
    built = await startStation();
    await built.station.submit(frame('d-3', 'score:1.5'));
    built.station.decide(decision('d-3', 'accept'));
    built.station.decide(decision('d-3', 'accept'));
    built.station.decide(decision('d-3', 'reject'));
    built.station.decide(decision('nobody', 'accept'));
    built.station.decide(decision('d-3', 'reject', { category: 'rust', correction: true }));
    expect(built.link.verdicts('d-3')).toEqual([expect.objectContaining({ verdict: 'pass', decidedBy: 'human' })]);
    expect(built.link.errors().map((e) => [e.code, e.partId])).toEqual([
      ['conflict', 'd-3'],
      ['unknown_part', 'nobody'],
      ['invalid_payload', 'd-3'],
    ]);
  });

  it('takes a correction, and its verdict says what it corrects', async () => {
    built = await startStation();
    await built.station.submit(frame('d-4', 'score:1.5'));
    built.station.decide(decision('d-4', 'accept'));
    built.station.decide(decision('d-4', 'reject', { category: 'dent', correction: true }));
    expect(built.link.verdicts('d-4').map((v) => [v.verdict, v.corrects?.verdict])).toEqual([
      ['pass', undefined],
      ['reject', 'pass'],
    ]);
  });
});

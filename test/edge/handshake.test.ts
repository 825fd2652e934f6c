import { describe, expect, it } from 'vitest';
import { PlcHandshake } from '../../edge/src/integrations/handshake.ts';
import type { Result, VerdictMessage } from '../../contract/payloads.ts';

function result(partId: string, verdict: Result['verdict'], reasons: Result['reasons'] = []): Result {
  return {
    schema: 'loupe/result@1',
    line: 'line-1',
    station: 's1',
    partId,
    verdict,
    score: verdict === 'pass' ? 1 : 12,
    thresholds: { passBelow: 5, rejectAbove: 15 },
    model: { id: 'm', version: '1' },
    reasons,
    source: 'trigger',
    timings: { queueMs: 0, decodeMs: 0, inferMs: 0, totalMs: 0 },
    at: new Date(0).toISOString(),
  };
}

function verdict(partId: string, v: VerdictMessage['verdict'], decidedBy: VerdictMessage['decidedBy']): VerdictMessage {
  return {
    schema: 'loupe/verdict@1',
    line: 'line-1',
    station: 's1',
    partId,
    verdict: v,
    decidedBy,
    score: 12,
    at: new Date(0).toISOString(),
  };
}

describe('the PLC handshake', () => {
  it('presents one result at a time, the next only after ResultAck rose and fell again', () => {
    const h = new PlcHandshake();
    h.triggeredPart('A');
    h.triggeredPart('B');
    expect(h.state).toMatchObject({ resultReady: false, inFlight: 2 });
    h.result(result('A', 'pass'));
    h.result(result('B', 'reject'));
    expect(h.state).toMatchObject({
      resultReady: true,
      sequence: 1,
      waiting: 1,
      inFlight: 0,
      presented: { partId: 'A', finalVerdict: 'pass', decidedBy: 'model' },
    });
    expect(h.acknowledge(true)).toBe(true);
    expect(h.state).toMatchObject({ resultReady: false, waiting: 1 });
    h.acknowledge(false);
    expect(h.state).toMatchObject({
      resultReady: true,
      sequence: 2,
      waiting: 0,
      presented: { partId: 'B', finalVerdict: 'reject' },
    });
  });

  it('holds every later result while the PLC does not acknowledge', () => {
    const h = new PlcHandshake();
    for (const id of ['A', 'B', 'C']) h.result(result(id, 'pass'));
    expect(h.state).toMatchObject({ presented: { partId: 'A' }, waiting: 2 });
    expect(h.unacknowledged).toBe(3);
  });

  it('presents a review pending, then its final verdict as a later result; a pass verdict is not presented twice', () => {
    const h = new PlcHandshake();
    h.result(result('R', 'review', ['borderline']));
    expect(h.state.presented).toMatchObject({
      partId: 'R',
      verdict: 'review',
      reviewPending: true,
      finalVerdict: null,
      error: false,
    });
    h.verdict(verdict('X', 'pass', 'model')); // not a review of this handshake: ignored
    h.acknowledge(true);
    h.acknowledge(false);
    expect(h.state.resultReady).toBe(false);
    h.verdict(verdict('R', 'reject', 'human'));
    expect(h.state.presented).toMatchObject({
      partId: 'R',
      verdict: 'review',
      reviewPending: false,
      finalVerdict: 'reject',
      decidedBy: 'human',
    });
  });

  it('marks a part that could not be inspected as an error, and an acknowledgement with nothing presented as not taken', () => {
    const h = new PlcHandshake();
    expect(h.acknowledge(true)).toBe(false);
    h.acknowledge(false);
    h.result(result('M', 'review', ['missing_frame']));
    expect(h.state.presented).toMatchObject({ error: true, reviewPending: true });
  });
});

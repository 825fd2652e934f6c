/** Results and verdicts as a station would hand them to the log, built by code. */
import type { Result } from '../../contract/payloads.ts';

export function result(partId: string, at: string, over: Partial<Result> = {}): Result {
  const verdict = over.verdict ?? 'review';
  return {
    schema: 'loupe/result@1',
    line: 'line-1',
    station: 'cam-1',
    partId,
    verdict,
    score: 5,
    thresholds: { passBelow: 2, rejectAbove: 10 },
    model: { id: 'bracket', version: '3' },
    reasons: verdict === 'review' ? ['borderline'] : verdict === 'reject' ? ['above_reject'] : [],
    source: 'http',
    timings: { queueMs: 0, decodeMs: 1, inferMs: 1, totalMs: 2 },
    at,
    ...over,
  };
}

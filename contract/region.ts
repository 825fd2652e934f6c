/**
 * A marked region is a person's answer to "where is the defect", so it belongs to a reject only: an
 * accepted part with a region is a contradiction the station refuses loudly (on the error topic)
 * rather than keeping half of. The shape and bounds of a region are the contract's (RegionSchema).
 */
import type { Decision } from './payloads.ts';

/** Why a decision's region cannot be kept, or null when it can (or there is none). */
export function regionRefusal(decision: Pick<Decision, 'partId' | 'decision' | 'region'>): string | null {
  if (decision.region === undefined || decision.decision === 'reject') return null;
  return `part ${decision.partId}: a marked region says where the defect is, so it goes with reject only, not with ${decision.decision}`;
}

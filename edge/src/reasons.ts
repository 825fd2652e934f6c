/**
 * Why a part was not simply passed. Errors are values with codes: each code maps to an MQTT
 * `reasons` entry and an HTTP status at the boundary, and every code that means "we could not
 * look at this part properly" sends the part to review, never to pass. The codes themselves are
 * the contract's (contract/vocabulary.ts); this module adds the error that carries one.
 */
import type { Reason } from '../../contract/vocabulary.ts';
export { REASONS as REASON_CODES } from '../../contract/vocabulary.ts';
export type ReasonCode = Reason;

/** An error that carries a reason code, so the pipeline can route the part instead of crashing. */
export class InspectionError extends Error {
  constructor(
    readonly code: ReasonCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InspectionError';
  }
}

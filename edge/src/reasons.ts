/**
 * Why a part was not simply passed. Errors are values with codes: each code maps to an MQTT
 * `reasons` entry and an HTTP status at the boundary, and every code that means "we could not
 * look at this part properly" sends the part to review, never to pass.
 */
export const REASON_CODES = [
  'borderline', // score between pass_below and reject_above
  'above_reject', // score at or above reject_above while auto-reject is off
  'audit', // random audit sample of an auto-passed part
  'unreadable_image', // the frame could not be decoded (corrupt, truncated, not an image)
  'model_error', // the model failed on a decodable frame
  'overload', // the station's queue was full; the part was not inspected
  'missing_frame', // a trigger arrived and no frame came for it in time
  'interrupted', // the station stopped (crash, kill, power) while the part was queued or being inspected
  'camera_lost', // the camera was disconnected or stopped sending when the part's trigger came
  'image_quality', // the frame was not fit to be scored (focus, exposure or framing outside the good parts' ranges)
  'unpaired_frame', // a hardware-triggered camera sent a frame no trigger message matched
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

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

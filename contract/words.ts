/**
 * The plain words people read for the contract's codes: why a part was flagged, what a verdict or a
 * default action means, who decided. Defined once here and served to the browser as `/words.js`
 * (dashboard/src/assets.ts writes it from this module), so the screens, the CSV and the logs never
 * show `unreadable_image` where a person expects "the image could not be read".
 */
import type { DecidedBy, FinalVerdict, Reason } from './vocabulary.ts';

export const REASON_WORDS: Record<Reason, string> = {
  borderline: 'the score is between pass and reject',
  above_reject: 'the score is above reject (auto-reject is off)',
  audit: 'a passed part picked at random for a check',
  unreadable_image: 'the image could not be read',
  model_error: 'the model failed on this image',
  overload: 'the station was overloaded and did not inspect it',
  missing_frame: 'no image arrived for the trigger',
  interrupted: 'the station stopped before inspecting it: look at the part itself',
  camera_lost: 'the camera was lost when the part came: look at the part itself',
  image_quality: 'the image was not fit to be scored (focus, light or framing)',
  unpaired_frame: 'an image came with no trigger: which part it shows is not known',
  storage_full: 'the station disk was full: the part was not recorded, look at the part itself',
};

export const VERDICT_WORDS: Record<FinalVerdict | 'review' | 'open', string> = {
  pass: 'passed',
  reject: 'rejected',
  hold: 'on hold',
  review: 'to a person',
  open: 'waiting for a person',
};

export const DECIDED_BY_WORDS: Record<DecidedBy, string> = {
  model: 'the model',
  human: 'a person',
  timeout: 'nobody in time (default applied)',
};

/** A reason in plain words; an unknown code is shown as it is rather than hidden. */
export const reasonWords = (reason: string) => (REASON_WORDS as Record<string, string>)[reason] ?? reason;

/** The browser module: the same maps as plain JS. */
export function wordsModule(): string {
  return [
    '// Written by the server from contract/words.ts: the one map of codes to plain words.',
    `export const REASON_WORDS = ${JSON.stringify(REASON_WORDS)};`,
    `export const VERDICT_WORDS = ${JSON.stringify(VERDICT_WORDS)};`,
    `export const DECIDED_BY_WORDS = ${JSON.stringify(DECIDED_BY_WORDS)};`,
    '/** @param {string} reason */',
    'export const reasonWords = (reason) => REASON_WORDS[reason] ?? reason;',
    '',
  ].join('\n');
}

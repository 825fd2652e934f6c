/**
 * `/words.js` is written by the server from contract/words.ts (dashboard/src/assets.ts): for the type
 * checker it is that module, so the browser's words and the contract's cannot drift apart unseen.
 */
export { REASON_WORDS, VERDICT_WORDS, DECIDED_BY_WORDS, reasonWords } from '../../contract/words.ts';

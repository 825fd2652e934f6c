/**
 * The station's behaviour in process, in milliseconds: fakes for the link, the model and the camera
 * (./fakes.ts), fake timers for deadlines and trigger timeouts. One test file so that the station is
 * imported once; each concern's cases live in their own `*.cases.ts` beside it. The real brokers and
 * browsers are the e2e and integration suites' part.
 */
import './conclude.cases.ts';
import './part-ids.cases.ts';
import './overload.cases.ts';
import './triggers.cases.ts';
import './review-desk.cases.ts';
import './swap.cases.ts';
import './recovery.cases.ts';
import './full-disk.cases.ts';

/**
 * Recovery at start: what was decided and what was waiting before a restart comes back before the
 * station takes a new part. Decided reviews are remembered (a decision sent again is recognised),
 * open reviews wait again with their deadlines, verdicts decided but not yet sent go out, and parts
 * the previous process took but never answered are answered: their result again when it was
 * concluded, else review as `interrupted` (their frame was not kept). Never a pass.
 */
import type { Result } from '../../../contract/payloads.ts';
import { conclude } from './conclude.ts';
import type { ReviewDesk } from './desk.ts';
import type { Intake } from './intake.ts';
import type { Part, StationCore } from './types.ts';

/** Answers the interrupted parts' results (pending while they are concluded), for whoever waits on them. */
export function recover(core: StationCore, desk: ReviewDesk, intake: Intake): Promise<Result>[] {
  const { reviews, link, log } = core.deps;
  for (const closing of reviews.closings()) {
    desk.remember(closing);
    if (closing.result) core.parts.seed(closing.partId, closing.result);
  }
  for (const review of reviews.openReviews()) {
    desk.reopen(review);
    if (review.result) core.parts.seed(review.partId, review.result);
  }
  if (desk.openCount > 0) log.info({ open: desk.openCount }, 'reviews open before the restart are waiting again');
  for (const closing of reviews.unannounced()) {
    log.warn(
      { partId: closing.partId, verdict: closing.verdict },
      'review decided just before the station stopped; its verdict goes out now',
    );
    desk.hold(closing);
  }
  desk.announceHeld();
  const answers: Promise<Result>[] = [];
  for (const taken of link.interrupted) {
    const known = core.parts.get(taken.partId);
    if (known) {
      link.publishResult(known); // concluded just before the crash: its result again
      answers.push(Promise.resolve(known));
      continue;
    }
    const part: Part = { partId: taken.partId, source: taken.source as Part['source'], receivedAt: performance.now() };
    const detail = `the station stopped while this part was in hand (taken ${taken.at}); its frame was not kept`;
    const pending = conclude(core, desk, part, {
      kind: 'failed',
      reason: 'interrupted',
      detail,
      startedAt: part.receivedAt,
    });
    intake.track(part.partId, null, undefined, pending);
    answers.push(pending);
  }
  return answers;
}

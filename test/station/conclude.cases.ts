import { afterEach, describe, expect, it } from 'vitest';
import type { Result, VerdictMessage } from '../../contract/payloads.ts';
import { CONCLUDE_STEPS } from '../../edge/src/station/conclude.ts';
import type { PartLog } from '../../edge/src/station/types.ts';
import { FakeLink, frame, startStation, type Built } from './fakes.ts';

/** A defect log that writes each call into the link's timeline. */
function loggingInto(link: FakeLink): PartLog {
  return {
    result: (result: Result) => void link.timeline.push(`log result ${result.partId}`),
    decision: () => undefined,
    verdict: (verdict: VerdictMessage) => void link.timeline.push(`log verdict ${verdict.partId}`),
  } as unknown as PartLog;
}

describe('the steps a concluded part goes through', () => {
  let built: Built | null = null;
  afterEach(async () => {
    await built?.stop();
    built = null;
  });

  it('are one ordered list: the answer and any review are recorded before anything is published, the verdict logged after', () => {
    expect(CONCLUDE_STEPS.map((step) => step.name)).toEqual([
      'count the score',
      'stop on a full disk',
      'watch drift',
      'keep evidence',
      'suggest a category',
      'log the result',
      'remember the answer',
      'open the review or give the model verdict',
      'publish',
      'log the verdict',
      'tell the observers',
      'offer the shadow model',
      'count in metrics',
    ]);
  });

  it('offers a shadow model each scored frame once its result is out, and never a frame the model did not score', async () => {
    const link = new FakeLink();
    const offered: string[] = [];
    built = await startStation({
      link,
      deps: {
        shadow: {
          offer: (result, image) =>
            void offered.push(`${result.partId} ${image.toString()} after ${link.timeline.join(',')}`),
        },
      },
    });
    await built.station.submit(frame('p-9', 'score:5'));
    await built.station.submit(frame('p-10', 'unreadable'));
    expect(offered).toEqual(['p-9 score:5 after publish p-9']);
  });

  it('runs them in that order for a rejected part: result logged, published, verdict logged, observers told', async () => {
    const link = new FakeLink();
    built = await startStation({ link, defectLog: loggingInto(link) });
    built.station.observers.add({
      result: (r) => void link.timeline.push(`observer result ${r.partId}`),
      verdict: (v) => void link.timeline.push(`observer verdict ${v.partId}`),
    });
    const result = await built.station.submit(frame('p-1', 'score:5'));
    expect(result).toMatchObject({ verdict: 'reject', score: 5, reasons: [] });
    expect(link.timeline).toEqual([
      'log result p-1',
      'publish p-1',
      'log verdict p-1',
      'observer result p-1',
      'observer verdict p-1',
    ]);
    expect(link.verdicts('p-1')).toEqual([expect.objectContaining({ verdict: 'reject', decidedBy: 'model' })]);
  });

  it('opens a review on disk before its result goes out, so a restart finds it even if the publish is lost', async () => {
    const link = new FakeLink();
    built = await startStation({ link });
    const publish = link.publishResult.bind(link);
    let openOnDisk: string[] = [];
    link.publishResult = (result, next) => {
      openOnDisk = built?.station.openPartIds() ?? [];
      publish(result, next);
    };
    await built.station.submit(frame('p-2', 'score:1.5'));
    expect(openOnDisk).toEqual(['p-2']);
    expect(link.reviews()).toEqual([expect.objectContaining({ partId: 'p-2', reasons: ['borderline'] })]);
  });

  it('reports a part the model could not score as failed with its reason, never passed, with no made-up score', async () => {
    built = await startStation();
    const unreadable = await built.station.submit(frame('p-3', 'unreadable'));
    expect(unreadable).toMatchObject({
      verdict: 'review',
      reasons: ['unreadable_image'],
      score: null,
      detail: 'not an image',
    });
    const crashed = await built.station.submit(frame('p-4', 'crash'));
    expect(crashed).toMatchObject({
      verdict: 'review',
      reasons: ['model_error'],
      score: null,
      detail: 'the model failed',
    });
    expect(built.link.verdicts()).toEqual([]); // both wait for a person
  });
});

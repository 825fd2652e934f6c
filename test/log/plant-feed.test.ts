/** What a station tells the plant: every log event with its part's time, and whole-minute tallies. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogSchema, type LogMessage } from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { PlantFeed } from '../../edge/src/log/plant-feed.ts';
import { tempDir } from '../support/temp.ts';
import { result } from './fixtures.ts';

async function fed(now: () => number) {
  const log = await DefectLog.open(path.join(await tempDir('loupe-feed-'), 'log'), { flushMs: 5 });
  const sent: LogMessage[] = [];
  const feed = new PlantFeed(log, (_line, _station, message) => sent.push(message), now);
  log.listener = feed;
  return { log, feed, sent };
}

describe('the plant feed', () => {
  it("sends every stored part's events, each stamped with the part's inspection time, and each valid loupe/log@1", async () => {
    const { log, sent } = await fed(() => Date.parse('2026-12-04T10:00:30Z'));
    log.result(result('p-1', '2026-12-04T10:00:01.000Z'));
    log.claimed('line-1', 'cam-1', 'p-1', 'ann', '2026-12-04T10:00:05.000Z');
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-1',
      verdict: 'reject',
      decidedBy: 'human',
      user: 'ann',
      at: '2026-12-04T10:00:09.000Z',
    });
    expect(sent.map((m) => [m.event.kind, m.inspectedAt])).toEqual([
      ['result', '2026-12-04T10:00:01.000Z'],
      ['claim', '2026-12-04T10:00:01.000Z'],
      ['verdict', '2026-12-04T10:00:01.000Z'],
    ]);
    for (const message of sent) expect(checkPayload(LogSchema, message)).toMatchObject({ ok: true });
    await log.close();
  });

  it('sends a plain auto-pass only as a count, in the tally of its minute once that minute has closed', async () => {
    let now = Date.parse('2026-12-04T10:00:30Z');
    const { log, feed, sent } = await fed(() => now);
    for (const partId of ['a', 'b', 'c']) {
      log.result(result(partId, '2026-12-04T10:00:10.000Z', { verdict: 'pass', reasons: [] }));
      log.verdict({
        line: 'line-1',
        station: 'cam-1',
        partId,
        verdict: 'pass',
        decidedBy: 'model',
        at: '2026-12-04T10:00:10.000Z',
      });
    }
    feed.tick();
    expect(sent).toEqual([]);
    now = Date.parse('2026-12-04T10:01:02Z');
    feed.tick();
    expect(sent).toEqual([
      {
        schema: 'loupe/log@1',
        event: {
          kind: 'tally',
          line: 'line-1',
          station: 'cam-1',
          minute: '2026-12-04T10:00:00.000Z',
          counts: { 'pass/model': 3 },
        },
      },
    ]);
    expect(checkPayload(LogSchema, sent[0])).toMatchObject({ ok: true });
    feed.tick();
    expect(sent).toHaveLength(1);
    await log.close();
  });

  it("sends the minute's whole count again when it changes, so a later tally replaces the earlier one", async () => {
    const { log, feed, sent } = await fed(() => Date.parse('2026-12-04T11:00:00Z'));
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'a',
      verdict: 'pass',
      decidedBy: 'model',
      at: '2026-12-04T10:00:10.000Z',
    });
    feed.tick();
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'b',
      verdict: 'reject',
      decidedBy: 'timeout',
      at: '2026-12-04T10:00:50.000Z',
    });
    feed.tick();
    expect(sent.map((m) => m.event.kind === 'tally' && m.event.counts)).toEqual([
      { 'pass/model': 1 },
      { 'pass/model': 1, 'reject/timeout': 1 },
    ]);
    await log.close();
  });
});

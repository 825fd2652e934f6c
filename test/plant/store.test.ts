/**
 * The plant's records in a real PostgreSQL (a throwaway cluster): redelivered and reordered events
 * make one row a part, and the plant answers the manager's filters exactly as the edge's own log does.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogMessage } from '../../contract/payloads.ts';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { PlantFeed } from '../../edge/src/log/plant-feed.ts';
import type { Filter } from '../../edge/src/log/query.ts';
import { memorySource } from '../../edge/src/log/source.ts';
import { postgresBin, startScratchCluster, type ScratchCluster } from '../../plant/src/scratch-cluster.ts';
import { PlantStore } from '../../plant/src/store.ts';
import { inCI } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';
import { result } from '../log/fixtures.ts';

const bin = postgresBin();
if (!bin) {
  const message =
    'PostgreSQL not found (/usr/lib/postgresql/*/bin/initdb); install it with: apt-get install postgresql';
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`SKIPPED: ${message}`);
}
const suite = bin ? describe : describe.skip;

suite('the plant store (PostgreSQL)', () => {
  let cluster: ScratchCluster;
  let store: PlantStore;
  let log: DefectLog;
  const sent: LogMessage[] = [];

  beforeAll(async () => {
    cluster = await startScratchCluster(bin as string);
    store = await PlantStore.open(cluster.url);
    // An edge's log, fed as a station would, over two days and two stations; what it sends the plant is kept.
    log = await DefectLog.open(path.join(await tempDir('loupe-plant-store-'), 'log'), { flushMs: 5 });
    const feed = new PlantFeed(
      log,
      (_line, _station, message) => sent.push(message),
      () => Date.parse('2026-12-05T00:00:00Z'),
    );
    log.listener = feed;
    const at = (i: number) => new Date(Date.parse('2026-12-03T22:00:00Z') + i * 7 * 60_000).toISOString();
    for (let i = 0; i < 60; i++) {
      const station = i % 2 === 0 ? 'cam-1' : 'cam-2';
      const partId = `P-${i}`;
      const kind = i % 5;
      const verdict = kind === 0 ? 'pass' : kind === 1 ? 'reject' : 'review';
      log.result(
        result(partId, at(i), {
          station,
          verdict,
          reasons: kind === 0 ? ['audit'] : kind === 1 ? ['above_reject'] : ['borderline'],
          model: { id: 'bracket', version: i < 30 ? '3' : '4' },
        }),
      );
      if (kind === 1)
        log.verdict({ line: 'line-1', station, partId, verdict: 'reject', decidedBy: 'model', at: at(i) });
      if (kind === 2 || kind === 0) {
        const user = i % 3 === 0 ? 'ann' : 'bob';
        log.claimed('line-1', station, partId, user, at(i + 1));
        log.decision(
          'line-1',
          station,
          { partId, user, decision: i % 4 === 0 ? 'accept' : 'reject', category: i % 4 === 0 ? undefined : 'dent' },
          at(i + 1),
        );
        log.verdict({
          line: 'line-1',
          station,
          partId,
          verdict: i % 4 === 0 ? 'pass' : 'reject',
          decidedBy: 'human',
          user,
          category: i % 4 === 0 ? undefined : 'dent',
          at: at(i + 1),
        });
      }
      if (kind === 3)
        log.verdict({ line: 'line-1', station, partId, verdict: 'hold', decidedBy: 'timeout', at: at(i + 2) });
      // kind 4: still open
    }
    feed.tick(true);
  }, 60_000);

  afterAll(async () => {
    await log?.close();
    await store?.close();
    cluster?.stop();
  });

  it('keeps one row a part and one event each, however often and in whatever order the events arrive', async () => {
    const shuffled = [...sent].reverse();
    await store.write(shuffled.slice(0, 40));
    await store.write([...sent]);
    const again = await store.write(shuffled);
    expect(again.added).toBe(0);
    const size = await store.size();
    expect(size.parts).toBe(60);
    expect(size.events).toBe(sent.filter((m) => m.event.kind !== 'tally').length);
    // The verdict came before its result, yet the part reads as the edge has it.
    expect(await store.get('line-1', 'cam-2', 'P-1')).toMatchObject({
      modelVerdict: 'reject',
      final: { verdict: 'reject', decidedBy: 'model' },
    });
  });

  it("answers the manager's filters as the edge's own log does: the same parts, in the same order, and the same analytics", async () => {
    const edge = memorySource(log);
    const filters: Filter[] = [
      {},
      { station: 'cam-1' },
      { verdict: 'open' },
      { verdict: 'reject', station: 'cam-2' },
      { decidedBy: 'human' },
      { category: 'dent' },
      { reason: 'audit' },
      { modelVersion: 'bracket@4' },
      { modelVersion: '3' },
      { user: 'ann' },
      { from: '2026-12-04T00:00:00.000Z', to: '2026-12-04T03:00:00.000Z' },
      { line: 'line-1', verdict: 'hold', decidedBy: 'timeout' },
    ];
    for (const filter of filters) {
      const [plant, local] = await Promise.all([
        store.page(filter, { limit: 1000, offset: 0 }),
        edge.page(filter, { limit: 1000, offset: 0 }),
      ]);
      const strip = (items: typeof local.items) => items.map(({ timeline: _t, ...rest }) => rest);
      expect(strip(plant.items), JSON.stringify(filter)).toEqual(strip(local.items));
      expect(plant.total).toBe(local.total);
    }
    expect(await store.analytics({}, [])).toEqual(await edge.analytics({}, []));
    expect(await store.analytics({ station: 'cam-1', verdict: 'reject' }, [])).toEqual(
      await edge.analytics({ station: 'cam-1', verdict: 'reject' }, []),
    );
  });

  it("gives a part's whole timeline, in order", async () => {
    const plant = await store.get('line-1', 'cam-1', 'P-2');
    const local = log.get('line-1', 'cam-1', 'P-2');
    expect(plant?.timeline.map((e) => e.kind)).toEqual(local?.timeline.map((e) => e.kind));
    expect(plant?.timeline.map((e) => e.kind)).toEqual(['result', 'claim', 'decision', 'verdict']);
  });
});

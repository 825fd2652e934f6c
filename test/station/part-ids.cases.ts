import { afterEach, describe, expect, it } from 'vitest';
import { PartIdInUse } from '../../edge/src/parts/memory.ts';
import { frame, startStation, type Built } from './fakes.ts';

describe('part ids at the station', () => {
  let built: Built | null = null;
  afterEach(async () => {
    await built?.stop();
    built = null;
  });

  it('answers the same frame again with its result, without inspecting it twice', async () => {
    built = await startStation();
    const first = await built.station.submit(frame('dup-1', 'score:0.5'));
    const again = await built.station.submit(frame('dup-1', 'score:0.5'));
    expect(again).toEqual(first);
    expect(built.model.inspected).toEqual(['score:0.5']);
    expect(built.link.results('dup-1')).toHaveLength(1); // over HTTP the answer is the response
  });

  it('publishes the result again when the same frame comes again over MQTT', async () => {
    built = await startStation();
    await built.station.submit(frame('dup-2', 'score:0.5', 'mqtt'));
    await built.station.submit(frame('dup-2', 'score:0.5', 'mqtt'));
    expect(built.link.results('dup-2')).toHaveLength(2);
    expect(built.model.inspected).toHaveLength(1);
  });

  it('inspects a new frame under an id already answered, and says which answer it replaces', async () => {
    built = await startStation();
    const first = await built.station.submit(frame('reused-1', 'score:0.5'));
    const second = await built.station.submit(frame('reused-1', 'score:5'));
    expect(second).toMatchObject({ verdict: 'reject', replaces: { verdict: 'pass', score: 0.5, at: first.at } });
    expect(built.model.inspected).toHaveLength(2);
  });

  it('joins the same frame sent twice while it is inspected, and refuses a different frame under that id', async () => {
    built = await startStation();
    built.model.hold();
    const first = built.station.submit(frame('busy-1', 'score:0.5'));
    const same = built.station.submit(frame('busy-1', 'score:0.5'));
    await expect(built.station.submit(frame('busy-1', 'score:0.7', 'mqtt'))).rejects.toBeInstanceOf(PartIdInUse);
    expect(built.link.errors()).toEqual([
      expect.objectContaining({ code: 'duplicate_part_id', partId: 'busy-1', topic: 'loupe/line/cam/frame/busy-1' }),
    ]);
    built.model.release();
    expect(await same).toEqual(await first);
    expect(built.link.results('busy-1')).toHaveLength(1);
  });

  it('refuses a new frame under an id whose review waits for a person', async () => {
    built = await startStation();
    await built.station.submit(frame('open-1', 'score:1.5'));
    const refused = await built.station.submit(frame('open-1', 'score:0.2')).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PartIdInUse);
    expect((refused as PartIdInUse).message).toMatch(/review/);
    expect(built.model.inspected).toEqual(['score:1.5']);
  });
});

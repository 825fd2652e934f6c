import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeCamera, frame, startStation, type Built } from './fakes.ts';

describe('triggers paired with their frames', () => {
  let built: Built | null = null;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    await built?.stop();
    built = null;
    vi.useRealTimers();
  });

  it('sends a triggered part whose frame never comes to review as missing_frame once the timeout passes', async () => {
    built = await startStation({ config: { trigger: { frameTimeoutMs: 2000 } } });
    const pending = built.station.trigger({ partId: 't-1', requestId: 'r-1' });
    expect(built.link.acks()).toEqual([
      expect.objectContaining({ partId: 't-1', requestId: 'r-1', state: 'accepted' }),
    ]);
    await vi.advanceTimersByTimeAsync(1999);
    expect(built.link.results()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toMatchObject({
      partId: 't-1',
      requestId: 'r-1',
      verdict: 'review',
      reasons: ['missing_frame'],
      score: null,
      detail: 'no frame arrived within 2000 ms of the trigger',
    });
    expect(built.model.inspected).toEqual([]);
  });

  it('inspects the frame that comes for a trigger, and answers the same trigger again with the same result', async () => {
    built = await startStation();
    const pending = built.station.trigger({ partId: 't-2', requestId: 'r-2' });
    const viaFrame = await built.station.submit(frame('t-2', 'score:5', 'mqtt'));
    const result = await pending;
    expect(viaFrame).toEqual(result);
    expect(result).toMatchObject({ verdict: 'reject', requestId: 'r-2', source: 'mqtt' });
    expect(built.link.verdicts('t-2')).toEqual([expect.objectContaining({ requestId: 'r-2', decidedBy: 'model' })]);
    const again = await built.station.trigger({ partId: 't-2', requestId: 'r-2' });
    expect(again).toEqual(result);
    expect(built.link.acks().map((a) => a.state)).toEqual(['accepted', 'answered']);
    expect(built.link.results('t-2')).toHaveLength(2);
    expect(built.model.inspected).toHaveLength(1);
  });

  it('treats a trigger with a new requestId under an answered part id as a new part that replaces it', async () => {
    built = await startStation({ deps: { camera: new FakeCamera() } });
    const first = await built.station.trigger({ partId: 't-3', requestId: 'r-a' });
    const second = await built.station.trigger({ partId: 't-3', requestId: 'r-b' });
    expect(second).toMatchObject({ requestId: 'r-b', replaces: { verdict: first.verdict, at: first.at } });
    expect(built.model.inspected).toHaveLength(2);
  });

  it('refuses a second trigger under a part id still being inspected with another requestId', async () => {
    built = await startStation({ deps: { camera: new FakeCamera() } });
    built.model.hold();
    const first = built.station.trigger({ partId: 't-4', requestId: 'r-a' });
    await expect(built.station.trigger({ partId: 't-4', requestId: 'r-b' })).rejects.toMatchObject({
      code: 'duplicate_part_id',
    });
    expect(built.link.errors()).toEqual([
      expect.objectContaining({ topic: 'loupe/line/cam/trigger', partId: 't-4', requestId: 'r-b' }),
    ]);
    built.model.release();
    expect((await first).requestId).toBe('r-a');
  });

  it('sends a part to review with the camera’s reason when the camera cannot take its picture', async () => {
    const camera = new FakeCamera();
    camera.next = 'lost';
    built = await startStation({ deps: { camera } });
    expect(await built.station.trigger({ partId: 't-5' })).toMatchObject({
      verdict: 'review',
      reasons: ['camera_lost'],
      detail: 'camera failed: the camera is not sending',
    });
  });
});

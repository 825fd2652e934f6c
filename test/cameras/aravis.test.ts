import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aravisTools, child, startLine, type Line } from './support.ts';

const fake = aravisTools();

// Aravis's fake GigE Vision camera on loopback, driven by Loupe through the Aravis helper, end to
// end: a trigger on MQTT fires TriggerSoftware, the frame is inspected, the result goes out.
describe.skipIf(!fake)('a GigE Vision camera through Aravis (fake camera on loopback)', () => {
  let camera: ReturnType<typeof child>;
  let line: Line;

  beforeAll(async () => {
    camera = child(fake as string, ['-i', 'lo', '-s', 'LOUPE1']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    line = await startLine(
      {
        kind: 'aravis',
        mode: 'software',
        device: '127.0.0.1',
        pixelFormat: 'Mono8',
        exposureUs: 2000,
        gain: 1,
        roi: { x: 0, y: 0, width: 320, height: 240 },
        lostAfterMs: 1500,
        reconnect: { minMs: 200, maxMs: 1000 },
      },
      // A part waits a minute for its frame: an answer within the test's wait is an answer at once.
      { trigger: { frameTimeoutMs: 60_000 } },
    );
  }, 60_000);

  afterAll(async () => {
    await line?.stop();
    await camera?.stop();
  });

  it('fires the camera for each triggered part and inspects the frame it sends', async () => {
    await line.status((s) => s.cameras?.[0]?.connected === true, 'the camera to be connected');
    for (const partId of ['gv-1', 'gv-2', 'gv-3']) {
      await line.trigger(partId);
      const result = await line.result(partId);
      expect(result.source).toBe('trigger');
      expect(result.reasons).not.toContain('missing_frame');
      expect(result.reasons).not.toContain('camera_lost');
      // The model gates the frame first: a fake camera's test pattern is no good part, so it may be
      // image_quality; either way the frame reached the station.
      expect(result.score !== null || result.reasons[0] === 'image_quality').toBe(true);
    }
    const status = await line.status(
      (s) => (s.cameras?.[0]?.lastFrameAgeMs ?? null) !== null,
      'camera health with a last frame',
    );
    expect(status.cameras?.[0]).toMatchObject({ name: 'camera', kind: 'aravis', mode: 'software', connected: true });
  }, 60_000);

  it('answers parts camera_lost at once while the camera is gone, and opens it again when it is back', async () => {
    const mark = line.collector.messages.length;
    await camera.stop();
    await line.status((s) => s.cameras?.[0]?.connected === false, 'the camera to be lost', mark);
    await line.trigger('gv-lost');
    const lost = await line.result('gv-lost');
    expect(lost.verdict).toBe('review');
    expect(lost.reasons).toEqual(['camera_lost']);
    expect(lost.detail).toMatch(/camera camera is not connected/);
    camera = child(fake as string, ['-i', 'lo', '-s', 'LOUPE1']);
    const back = await line.status(
      (s) => s.cameras?.[0]?.connected === true && s.cameras[0].reconnects > 0,
      'the camera to be connected again',
      mark,
    );
    expect(back.cameras?.[0]?.reconnects).toBeGreaterThan(0);
    await line.trigger('gv-back');
    expect((await line.result('gv-back')).reasons).not.toContain('camera_lost');
  }, 60_000);
});

import { afterAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { ffmpegPath, startLine, type Line } from './support.ts';

const ffmpeg = ffmpegPath();

// A camera whose lamp has failed: ffmpeg's black test source, every frame a part (mode each), in
// front of the default model, which knows the light of its good parts.
describe.skipIf(!ffmpeg)('a station behind a camera that sends unfit frames', () => {
  let line: Line;
  afterAll(async () => line?.stop());

  it('sends each dark frame to review as image_quality, naming the measure, and raises an alert on status', async () => {
    line = await startLine({
      kind: 'ffmpeg',
      mode: 'each',
      url: 'color=c=0x101010:size=256x256:rate=8',
      input: ['-re', '-f', 'lavfi'],
    });
    const results = await line.collector.waitFor('six results', () => {
      const all = line.collector.json<Result>('/result');
      return all.length >= 6 && all;
    });
    for (const result of results) {
      expect(result).toMatchObject({ verdict: 'review', reasons: ['image_quality'], score: null, source: 'camera' });
      expect(result.detail).toMatch(/mean [\d.]+ below [\d.]+ \(too dark\)/);
    }
    const status = await line.status((s) => s.imageQuality?.alert === true, 'an image-quality alert');
    expect(status.imageQuality?.failed).toContain('mean');
    expect(status.cameras?.[0]).toMatchObject({ kind: 'ffmpeg', mode: 'each', connected: true });
    const metrics = await (await fetch(new URL('/metrics', line.running.httpUrl))).text();
    expect(metrics).toMatch(/^loupe_camera_connected\{station="cam",camera="camera"\} 1$/m);
    expect(metrics).toMatch(/^loupe_camera_fps\{station="cam",camera="camera"\} [1-9]/m);
    expect(metrics).toMatch(/^loupe_camera_dropped_frames\{station="cam",camera="camera"\} \d+$/m);
  }, 60_000);
});

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { generatePart } from '../../lab/synth.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';
import { ffmpegPath, startLine, type Line } from './support.ts';

const ffmpeg = ffmpegPath();

// Two views of each part, top and side, each a camera streaming good brackets (a looped file), each
// with the default model and its own thresholds.
describe.skipIf(!ffmpeg)('several views of one part', () => {
  let parts: string;
  let line: Line | null = null;
  beforeAll(async () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 10; i++)
      frames.push(
        await sharp((await generatePart({ category: 'bracket', seed: 1, index: 700 + i, defect: null })).image)
          .jpeg({ quality: 92 })
          .toBuffer(),
      );
    parts = path.join(await tempDir('loupe-views-'), 'parts.mjpeg');
    await writeFile(parts, Buffer.concat(frames));
  });
  afterEach(async () => {
    await line?.stop();
    line = null;
  });
  const view = (name: string, extra: Record<string, unknown> = {}) => ({
    kind: 'ffmpeg',
    mode: 'freerun',
    name,
    url: parts,
    loop: true,
    copy: true,
    input: ['-f', 'mjpeg', '-framerate', '10'],
    maxAgeMs: 2000,
    ...extra,
  });

  it('waits for every view and gives the part the worst verdict of its views', async () => {
    // The side view's thresholds make any score a reject: the part is rejected although its top view passes.
    line = await startLine(undefined, {
      cameras: [view('top'), view('side', { thresholds: { passBelow: 0, rejectAbove: 0.000001 } })],
    });
    await line.status(
      (s) => (s.cameras ?? []).length === 2 && s.cameras!.every((c) => c.connected),
      'both views connected',
    );
    await line.trigger('two-views-1');
    const result = await line.result('two-views-1');
    expect(result).toMatchObject({
      verdict: 'reject',
      model: { id: 'top:default+side:default' },
      thresholds: { passBelow: 0, rejectAbove: 1 },
    });
    expect(result.score).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('sends the part to review, naming the view, when one view has no frame', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/nothing.mjpg`;
    line = await startLine(undefined, {
      cameras: [view('top'), { kind: 'ffmpeg', mode: 'freerun', name: 'side', url: dead }],
    });
    await line.status((s) => s.cameras?.find((c) => c.name === 'top')?.connected === true, 'the top view connected');
    await line.trigger('two-views-2');
    const result = await line.result('two-views-2');
    expect(result).toMatchObject({ verdict: 'review', reasons: ['camera_lost'], score: null });
    expect(result.detail).toMatch(/view side: camera side is not connected/);
  }, 60_000);
});

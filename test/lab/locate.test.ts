/**
 * Locating the part before per-position statistics (lab/locate.ts): a part that slid, turned and was
 * lit differently is brought back to where and how the fixture holds it, so the Gaussians of
 * `pretrained-aligned` compare like with like.
 */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { locateNodes } from '../../lab/locate.ts';
import { model, node, tensorInfo } from '../../lab/onnx.ts';
import { imageInput } from '../../lab/stages.ts';
import { generatePart } from '../../lab/synth.ts';
import { MOVED } from '../../scripts/moved.ts';

const shape = { width: 256, height: 256 };

async function located(session: ort.InferenceSession, png: Buffer): Promise<Float32Array> {
  const pixels = await sharp(png).removeAlpha().raw().toBuffer();
  const out = await session.run({ image: new ort.Tensor('uint8', new Uint8Array(pixels), [1, 256, 256, 3]) });
  return out.image_located.data as Float32Array;
}

function planar(pixels: Buffer): Float32Array {
  const out = new Float32Array(pixels.length);
  const n = pixels.length / 3;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = pixels[i * 3 + c];
  return out;
}

/** mean absolute difference over the middle of the frame (the part; its cut-off corners excluded) */
function difference(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  let count = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 48; y < 208; y++) {
      for (let x = 48; x < 208; x++) {
        const i = c * 65536 + y * 256 + x;
        sum += Math.abs(a[i] - b[i]);
        count++;
      }
    }
  }
  return sum / count;
}

describe('locating the part', () => {
  it('brings a part that slid, turned and was lit differently back to the pose and light of the fixture', async () => {
    const piece = locateNodes(shape);
    const graph = model({
      name: 'locate',
      node: [
        node('Cast', ['image'], ['image_f'], { to: 1 }),
        node('Transpose', ['image_f'], ['image_chw'], { perm: [0, 3, 1, 2] }),
        ...piece.nodes,
      ],
      initializer: piece.initializers,
      input: [imageInput(shape)],
      output: [tensorInfo('image_located', [1, 3, 256, 256])],
    });
    const session = await ort.InferenceSession.create(graph);
    const gaps: { raw: number; located: number }[] = [];
    for (let index = 0; index < 4; index++) {
      const fixture = await generatePart({ category: 'bracket', seed: 5, index, defect: null });
      const moved = await generatePart({ category: 'bracket', seed: 5, index, defect: null, moved: MOVED });
      const raw = difference(
        planar(await sharp(fixture.image).removeAlpha().raw().toBuffer()),
        planar(await sharp(moved.image).removeAlpha().raw().toBuffer()),
      );
      gaps.push({
        raw,
        located: difference(await located(session, fixture.image), await located(session, moved.image)),
      });
    }
    await session.release();
    // what is left is the sensor's noise (a few grey levels), far below what the move made
    for (const gap of gaps) {
      expect(gap.located).toBeLessThan(4);
      expect(gap.located).toBeLessThan(gap.raw / 4);
    }
  });
});

/**
 * Decode and preprocess, as the manifest says: any size, greyscale or with alpha, becomes a planar
 * float tensor of the model's input size, channels and normalisation. sharp shrinks large JPEGs
 * while decoding them (shrink-on-load), so a megapixel frame costs little more than a small one.
 */
import sharp from 'sharp';
import { InspectionError } from '../reasons.ts';
import type { Manifest } from './manifest.ts';

/** The decoded frame at the model's size and channels, as interleaved bytes (HWC). */
export async function framePixels(image: Buffer, input: Manifest['input']): Promise<Buffer> {
  const { width, height, channels } = input;
  let pixels: Buffer;
  try {
    // failOn 'truncated': a cut-off JPEG must be refused, not decoded into a grey half-part.
    const pipeline = sharp(image, { failOn: 'truncated' })
      .resize(width, height, { fit: input.resize, background: { r: 0, g: 0, b: 0 } })
      .flatten({ background: '#000' });
    pixels = await (channels === 1 ? pipeline.grayscale() : pipeline.toColourspace('srgb')).raw().toBuffer();
  } catch (error) {
    throw new InspectionError(
      'unreadable_image',
      `the frame cannot be decoded as an image: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (pixels.length !== width * height * channels)
    throw new InspectionError(
      'unreadable_image',
      `decoded ${pixels.length} bytes, expected ${width * height * channels}`,
    );
  return pixels;
}

/** The decoded frame as normalised planar floats (CHW), for models that take float32-nchw. */
export async function frameToTensor(image: Buffer, input: Manifest['input']): Promise<Float32Array> {
  return pixelsToFloats(await framePixels(image, input), input);
}

/** Decoded bytes (what `framePixels` answers) as normalised planar floats (CHW). */
export function pixelsToFloats(pixels: Uint8Array, input: Manifest['input']): Float32Array {
  const { width, height, channels } = input;
  const plane = width * height;
  // interleaved HWC bytes → planar CHW floats, (v/255 − mean) / std per channel
  const data = new Float32Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    const s = 1 / (255 * input.std[c]);
    const o = -input.mean[c] / input.std[c];
    const base = c * plane;
    for (let i = 0, j = c; i < plane; i++, j += channels) data[base + i] = pixels[j] * s + o;
  }
  return data;
}

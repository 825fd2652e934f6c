import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JpegSplitter } from '../../edge/src/cameras/jpeg-stream.ts';

const jpeg = (grey: number) =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: { r: grey, g: grey, b: grey } } })
    .jpeg()
    .toBuffer();

describe('cutting a JPEG stream into frames', () => {
  it('gives back every image whole, however the bytes are chunked', async () => {
    const images = await Promise.all([10, 120, 250].map(jpeg));
    const stream = Buffer.concat(images);
    for (const size of [1, 7, 1000, stream.length]) {
      const out: Buffer[] = [];
      const splitter = new JpegSplitter((image) => out.push(image));
      for (let i = 0; i < stream.length; i += size) splitter.push(stream.subarray(i, i + size));
      expect(out.map((b) => b.equals(images[out.indexOf(b)]))).toEqual([true, true, true]);
    }
  });

  it('skips bytes that are not a JPEG and never passes on a torn image', async () => {
    const [a, b] = await Promise.all([jpeg(30), jpeg(200)]);
    const out: Buffer[] = [];
    const splitter = new JpegSplitter((image) => out.push(image));
    splitter.push(
      Buffer.concat([
        Buffer.from('--boundary\r\nContent-Type: image/jpeg\r\n\r\n'),
        a,
        Buffer.from('\r\n'),
        b.subarray(0, b.length - 40),
      ]),
    );
    expect(out).toHaveLength(1);
    expect(out[0].equals(a)).toBe(true);
    expect(splitter.skipped).toBeGreaterThan(0);
    expect(splitter.pending).toBe(b.length - 40);
  });
});

/** Part images for tests, made by the same generator as the synthetic datasets. */
import sharp from 'sharp';
import { generatePart } from '../../lab/synth.ts';

export async function goodPart(index: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const part = await generatePart({ category: 'bracket', seed: 101, index, defect: null });
  return encode(part.image, format);
}

export async function defectivePart(index: number, defect: string, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const part = await generatePart({ category: 'bracket', seed: 202, index, defect });
  return encode(part.image, format);
}

function encode(image: Buffer, format: 'jpeg' | 'png'): Promise<Buffer> {
  return format === 'jpeg' ? sharp(image).jpeg({ quality: 92 }).toBuffer() : sharp(image).png().toBuffer();
}

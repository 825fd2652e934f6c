import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { renderMap, shrinkMap } from '../../edge/src/vision/heatmap.ts';
import { tempDir } from '../support/temp.ts';

describe('anomaly map kept with a part', () => {
  it('shrinks a 256×256 map to 64×64 keeping every peak where it was', () => {
    const map = new Float32Array(256 * 256).fill(0.1);
    map[200 * 256 + 37] = 9; // a one-pixel defect
    const small = shrinkMap({ map, mapWidth: 256, mapHeight: 256 });
    expect([small.mapWidth, small.mapHeight]).toEqual([64, 64]);
    expect(small.map[Math.floor(200 / 4) * 64 + Math.floor(37 / 4)]).toBe(9);
    expect(Math.max(...small.map)).toBe(9);
    expect(small.map.filter((v) => v > 1)).toHaveLength(1);
  });

  it('leaves a map that is already small as it is, and handles sides that do not divide', async () => {
    const map = new Float32Array(40 * 30).map((_, i) => i);
    expect(shrinkMap({ map, mapWidth: 40, mapHeight: 30 }).map).toBe(map);
    const odd = shrinkMap({ map: new Float32Array(130 * 70).fill(1), mapWidth: 130, mapHeight: 70 });
    expect([odd.mapWidth, odd.mapHeight]).toEqual([44, 24]);
    expect(odd.map.every((v) => v === 1)).toBe(true);
    expect(await sharp(await renderMap(odd)).metadata()).toMatchObject({ width: 44, height: 24, channels: 4 });
  });

  it('takes each cell as the maximum of exactly the cells it covers', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 10 - 5;
    for (const [mapWidth, mapHeight] of [
      [256, 256],
      [130, 70],
      [65, 200],
    ]) {
      const map = Float32Array.from({ length: mapWidth * mapHeight }, random);
      const small = shrinkMap({ map, mapWidth, mapHeight });
      const factor = Math.ceil(Math.max(mapWidth, mapHeight) / 64);
      for (let cy = 0; cy < small.mapHeight; cy++) {
        for (let cx = 0; cx < small.mapWidth; cx++) {
          let expected = -Infinity;
          for (let y = cy * factor; y < Math.min((cy + 1) * factor, mapHeight); y++) {
            for (let x = cx * factor; x < Math.min((cx + 1) * factor, mapWidth); x++)
              expected = Math.max(expected, map[y * mapWidth + x]);
          }
          expect(small.map[cy * small.mapWidth + cx]).toBe(expected);
        }
      }
    }
  });
});

describe('anomaly map file', () => {
  it('keeps a map in a few kilobytes and draws it as a PNG on request, peak at full colour', async () => {
    const { encodeMap, decodeMap, viewableMap, mapFile } = await import('../../edge/src/evidence/files.ts');
    const { writeFile } = await import('node:fs/promises');
    const map = new Float32Array(256 * 256).fill(1);
    map[128 * 256 + 128] = 20;
    const bytes = encodeMap({ map, mapWidth: 256, mapHeight: 256 }, 2, 10);
    expect(bytes.length).toBe(8 + 64 * 64);
    const decoded = decodeMap(bytes);
    expect(decoded?.map[32 * 64 + 32]).toBe(1); // above full scale: clamped to full colour
    expect(decoded?.map[0]).toBe(0); // below the floor: transparent
    const dir = await tempDir('loupe-map-');
    await writeFile(mapFile(dir, 'P-1'), bytes);
    const shown = await viewableMap(dir, 'P-1');
    expect(shown.ok).toBe(true);
    const { data, info } = await sharp((shown as { png: Buffer }).png)
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([64, 64, 4]);
    expect(data[(32 * 64 + 32) * 4 + 3]).toBe(255); // the peak is opaque
    expect(data[3]).toBe(0); // a normal cell is transparent
    await writeFile(mapFile(dir, 'P-2'), Buffer.from('damaged'));
    expect(await viewableMap(dir, 'P-2')).toMatchObject({ ok: false, code: 'unreadable_map' });
    expect(await viewableMap(dir, 'P-3')).toMatchObject({ ok: false, code: 'not_found' });
  });
});

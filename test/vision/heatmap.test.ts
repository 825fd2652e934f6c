import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { renderMap, shrinkMap } from '../../edge/src/vision/heatmap.ts';

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
});

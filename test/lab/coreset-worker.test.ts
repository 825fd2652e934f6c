import { describe, expect, it } from 'vitest';
import { kCentre, kCentreInWorker } from '../../lab/kcentre.ts';
import { rng } from '../../lab/synth.ts';

describe('the coreset on a worker thread', () => {
  it('chooses the same bank entries as on the main thread, and reports its progress', async () => {
    const n = 3000;
    const dims = 10;
    const size = 1100;
    const random = rng(7);
    const flat = Float32Array.from({ length: n * dims }, () => random());
    const chosenHere = new Int32Array(size);
    const here = kCentre(flat.slice(), n, dims, size, undefined, chosenHere);
    const chosenThere = new Int32Array(size);
    const heard: number[] = [];
    const there = await kCentreInWorker(flat.slice(), n, dims, size, (m) => heard.push(m), chosenThere);
    expect(Array.from(there)).toEqual(Array.from(here));
    expect(Array.from(chosenThere)).toEqual(Array.from(chosenHere));
    expect(heard).toEqual([1024]);
  });
});

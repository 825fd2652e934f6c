import { afterEach, describe, expect, it } from 'vitest';
import { FakeInspector, frame, startStation, type Built } from './fakes.ts';

describe('swapping the model', () => {
  let built: Built | null = null;
  afterEach(async () => {
    await built?.stop();
    built = null;
  });

  it('finishes frames already on the old model with it, sends every later frame to the new one, drops none', async () => {
    built = await startStation({ config: { queue: { maxDepth: 10, concurrency: 2 } } });
    const { station, model: old } = built;
    old.hold();
    const before = [1, 2, 3].map((n) => station.submit(frame(`s-${n}`, 'score:0.5')));
    await new Promise((resolve) => setImmediate(resolve));
    expect(old.holding).toBe(2); // two on the old model, one waiting in the queue
    const next = new FakeInspector('next');
    const swapped = station.swapModel(next);
    const after = [4, 5].map((n) => station.submit(frame(`s-${n}`, 'score:0.5')));
    expect(station.modelRef).toEqual({ id: 'next', version: '1' });
    expect(old.closed).toBe(false);
    old.release();
    await swapped;
    expect(old.closed).toBe(true);
    const results = await Promise.all([...before, ...after]);
    expect(results.map((r) => [r.partId, r.model.id])).toEqual([
      ['s-1', 'fake'],
      ['s-2', 'fake'],
      ['s-3', 'next'],
      ['s-4', 'next'],
      ['s-5', 'next'],
    ]);
    expect(built.link.results()).toHaveLength(5);
    expect([...old.inspected, ...next.inspected]).toHaveLength(5); // each scored once
  });
});

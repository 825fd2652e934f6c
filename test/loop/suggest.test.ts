import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { checkPayload } from '../../contract/validate.ts';
import { ReviewSchema, VerdictSchema } from '../../contract/payloads.ts';
import { reviewApi } from '../../edge/src/review/api.ts';
import {
  CategoryBook,
  featuresOf,
  nearest,
  SuggestionAccuracySchema,
  type Example,
} from '../../edge/src/review/suggest.ts';
import type { Station } from '../../edge/src/station.ts';
import { rng } from '../../lab/synth.ts';
import { tempDir } from '../support/temp.ts';

const W = 32;
const CATEGORIES = ['scratch', 'stain', 'speck'] as const;

/** An anomaly map of a part with one defect of the category, somewhere random, on a noisy floor. */
function defectMap(category: (typeof CATEGORIES)[number], random: () => number): { map: Float32Array; score: number } {
  const map = new Float32Array(W * W).map(() => random() * 0.2);
  const cx = 8 + random() * 16;
  const cy = 8 + random() * 16;
  const angle = random() * Math.PI;
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const dx = x - cx;
      const dy = y - cy;
      let v = 0;
      if (category === 'scratch') {
        const along = dx * Math.cos(angle) + dy * Math.sin(angle);
        const across = -dx * Math.sin(angle) + dy * Math.cos(angle);
        v = Math.abs(along) < 9 ? Math.exp(-(across * across) / 0.8) : 0;
      } else if (category === 'stain') v = Math.exp(-(dx * dx + dy * dy) / 30);
      else v = Math.exp(-(dx * dx + dy * dy) / 1.2);
      map[y * W + x] += 2 * v;
    }
  }
  return { map, score: 2 + random() * 2 };
}

describe('category suggestions', () => {
  it('suggests the category people gave similar parts, measured on parts it has not seen', () => {
    const random = rng(11);
    const labelled: Example[] = [];
    for (let i = 0; i < 60; i++) {
      const category = CATEGORIES[i % 3];
      const { map, score } = defectMap(category, random);
      labelled.push({ features: featuresOf(score, map, W, W) as number[], category });
    }
    let correct = 0;
    const trials = 90;
    for (let i = 0; i < trials; i++) {
      const category = CATEGORIES[i % 3];
      const { map, score } = defectMap(category, random);
      const suggestion = nearest(labelled, featuresOf(score, map, W, W) as number[]);
      if (suggestion?.category === category) correct++;
      expect(suggestion?.confidence).toBeGreaterThan(0);
      expect(suggestion?.confidence).toBeLessThanOrEqual(1);
    }
    expect(correct / trials).toBeGreaterThan(0.85);
  });

  it('suggests nothing before people have categorised a few parts, and nothing without a map', () => {
    const random = rng(12);
    const { map, score } = defectMap('stain', random);
    const features = featuresOf(score, map, W, W) as number[];
    expect(nearest([{ features, category: 'stain' }], features)).toBeNull();
    expect(featuresOf(3, undefined, undefined, undefined)).toBeNull();
  });

  it('tallies accuracy against what people chose, and keeps examples and tally across a SIGKILL-like restart', async () => {
    const dir = await tempDir('loupe-categories-');
    const random = rng(13);
    const book = new CategoryBook(dir);
    let t = 0;
    for (let i = 0; i < 30; i++) {
      const category = CATEGORIES[i % 3];
      const { map, score } = defectMap(category, random);
      const features = featuresOf(score, map, W, W) as number[];
      const suggestion = book.suggest(features);
      book.featured(`p${i}`, features, suggestion, t++);
      book.labelled(`p${i}`, category, 'ana', t++);
    }
    book.labelled('never-featured', 'stain', 'ana', t++); // a part the station gave no features for teaches nothing
    const before = book.accuracy('cam');
    expect(before.examples).toBe(30);
    expect(before.judged).toBe(25); // the first five had no suggestion yet
    expect(before.correct).toBeGreaterThan(15);
    expect(checkPayload(SuggestionAccuracySchema, before).ok).toBe(true);
    // A new process on the same folder (no close: nothing is buffered).
    expect(new CategoryBook(dir).accuracy('cam')).toEqual(before);
  });

  it('answers managers over HTTP with the accuracy schema, and review and verdict messages accept a suggestion', async () => {
    const book = new CategoryBook(null);
    const station = { id: 'cam', suggestionAccuracy: () => book.accuracy('cam') } as unknown as Station;
    const app = Fastify();
    await app.register(reviewApi, { stations: new Map([['cam', station]]) });
    const answer = await app.inject({ url: '/api/stations/cam/suggestions' });
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toMatchObject({ station: 'cam', examples: 0, accuracy: null });
    await app.close();
    const at = new Date().toISOString();
    const thresholds = { passBelow: 1, rejectAbove: 2 };
    const review = {
      schema: 'loupe/review@1',
      line: 'l',
      station: 's',
      partId: 'p1',
      score: 1.5,
      thresholds,
      model: { id: 'm', version: '1' },
      reasons: ['borderline'],
      openedAt: at,
      deadline: at,
      defaultAction: 'hold',
      categories: ['stain'],
      suggestion: { category: 'stain', confidence: 0.8 },
    };
    expect(checkPayload(ReviewSchema, review).ok).toBe(true);
    const verdict = {
      schema: 'loupe/verdict@1',
      line: 'l',
      station: 's',
      partId: 'p1',
      verdict: 'reject',
      decidedBy: 'model',
      score: 3,
      suggestion: { category: 'stain', confidence: 0.8 },
      at,
    };
    expect(checkPayload(VerdictSchema, verdict).ok).toBe(true);
  });
});

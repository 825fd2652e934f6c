/**
 * Category suggestions learned from people. When a person rejects a part and names its category,
 * the part's anomaly map becomes a labelled example; a new review or model reject is given the
 * category of its nearest labelled neighbours (k nearest, distance-weighted, on standardised
 * features), with the winning share of the vote as confidence. The features are simple and cheap,
 * from the map's hot region (cells at half the peak or more): the log score, the log peak-to-mean
 * ratio, the hot share of the map, the region's centroid, its spread along each axis and its
 * elongation. A scratch is long and thin, a stain round and wide, a speck small: these separate
 * them without a second model on the edge.
 *
 * Suggestion accuracy is tallied when a person then names a category: right when they chose the
 * suggested one. Everything lives in the station's store as advice lines (kind `categories.jsonl`), one
 * per fact (a part's features and suggestion; a person's category), written before anything is told,
 * so a SIGKILL forgets nothing. The core (`featuresOf`, `nearest`) is pure.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { AdviceLines } from '../json-lines.ts';

export interface Suggestion {
  category: string;
  /** the winning share of the neighbours' distance-weighted vote, 0 to 1 */
  confidence: number;
}

export interface Example {
  features: number[];
  category: string;
}

export const FEATURES = 8;

/** Features of a part's anomaly map (and score); null without a map. */
export function featuresOf(
  score: number,
  map: Float32Array | undefined,
  width: number | undefined,
  height: number | undefined,
): number[] | null {
  if (!map || !width || !height || map.length < width * height) return null;
  let peak = -Infinity;
  let sum = 0;
  for (let i = 0; i < width * height; i++) {
    peak = Math.max(peak, map[i]);
    sum += map[i];
  }
  const mean = sum / (width * height);
  const cut = peak > 0 ? peak / 2 : peak;
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (map[y * width + x] < cut) continue;
      const u = (x + 0.5) / width;
      const v = (y + 0.5) / height;
      n++;
      sx += u;
      sy += v;
      sxx += u * u;
      syy += v * v;
    }
  }
  const cx = sx / n;
  const cy = sy / n;
  const spreadX = Math.sqrt(Math.max(0, sxx / n - cx * cx));
  const spreadY = Math.sqrt(Math.max(0, syy / n - cy * cy));
  const elongation = Math.log((Math.max(spreadX, spreadY) + 0.01) / (Math.min(spreadX, spreadY) + 0.01));
  return [
    Math.log(Math.max(score, 1e-6)),
    Math.log((peak + 1e-6) / (Math.abs(mean) + 1e-6)),
    n / (width * height),
    cx,
    cy,
    spreadX,
    spreadY,
    elongation,
  ];
}

/** The category of the nearest labelled examples; null with fewer than `minExamples`. */
export function nearest(examples: Example[], features: number[], k = 7, minExamples = 5): Suggestion | null {
  if (examples.length < minExamples) return null;
  const dims = features.length;
  const scale = new Array<number>(dims).fill(0).map((_, d) => {
    const values = examples.map((e) => e.features[d]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    return sd > 1e-9 ? sd : 1;
  });
  const distance = (a: number[]) =>
    Math.sqrt(a.reduce((total, value, d) => total + ((value - features[d]) / scale[d]) ** 2, 0));
  const ranked = examples
    .map((e) => ({ category: e.category, d: distance(e.features) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, k);
  const votes = new Map<string, number>();
  for (const { category, d } of ranked) votes.set(category, (votes.get(category) ?? 0) + 1 / (d + 1e-3));
  const total = [...votes.values()].reduce((a, b) => a + b, 0);
  const [category, weight] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
  return { category, confidence: Math.round((weight / total) * 1000) / 1000 };
}

type Line =
  | { partId: string; features: number[]; suggested?: string; confidence?: number; at: number }
  | { partId: string; category: string; user?: string; at: number };

const Rate = {
  judged: Type.Integer({ description: "people's categories on parts that carried a suggestion" }),
  correct: Type.Integer({ description: 'of those, the ones that matched the suggestion' }),
  accuracy: Type.Union([Type.Number(), Type.Null()]),
};
export const SuggestionAccuracySchema = Type.Object(
  {
    station: Type.String(),
    examples: Type.Integer({
      description: 'labelled parts (people-rejected, with a category) the station suggests from',
    }),
    ...Rate,
    recent: Type.Object(Rate, {
      additionalProperties: false,
      description: 'the same over the last judged parts (100 by default)',
    }),
    perCategory: Type.Record(
      Type.String(),
      Type.Object(
        { examples: Type.Integer(), judged: Type.Integer(), correct: Type.Integer() },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, $id: 'SuggestionAccuracy' },
);
export type SuggestionAccuracy = Static<typeof SuggestionAccuracySchema>;

/** A station's categories: the labelled examples, the parts waiting for a person's category, the tally. */
export class CategoryBook {
  private readonly file: string;
  private readonly examples: Example[] = [];
  private readonly pending = new Map<string, { features: number[]; suggested?: string }>();
  private readonly judged: { category: string; correct: boolean }[] = [];
  private readonly lines: AdviceLines | null;

  constructor(
    dir: string | null,
    private readonly options: { keepExamples?: number; window?: number; k?: number } = {},
  ) {
    this.file = dir ? path.join(dir, 'categories.jsonl') : '';
    this.lines = dir ? new AdviceLines(this.file) : null;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const line of this.lines?.read<Line>() ?? []) this.apply(line);
    }
  }

  /** The suggestion for a part with these features (none before enough examples). */
  suggest(features: number[]): Suggestion | null {
    return nearest(this.examples, features, this.options.k ?? 7);
  }

  /** Records a part's features and the suggestion it was given, before anyone is told. */
  featured(partId: string, features: number[], suggestion: Suggestion | null, at: number): void {
    this.write({
      partId,
      features,
      ...(suggestion ? { suggested: suggestion.category, confidence: suggestion.confidence } : {}),
      at,
    });
  }

  /** A person named the category of a rejected part: a new example, and a judged suggestion. */
  labelled(partId: string, category: string, user: string | undefined, at: number): void {
    if (!this.pending.has(partId)) return;
    this.write({ partId, category, ...(user ? { user } : {}), at });
  }

  accuracy(station: string): SuggestionAccuracy {
    const window = this.options.window ?? 100;
    const rate = (list: { correct: boolean }[]) => ({
      judged: list.length,
      correct: list.filter((j) => j.correct).length,
      accuracy: list.length ? list.filter((j) => j.correct).length / list.length : null,
    });
    const perCategory: SuggestionAccuracy['perCategory'] = {};
    const of = (c: string) => (perCategory[c] ??= { examples: 0, judged: 0, correct: 0 });
    for (const e of this.examples) of(e.category).examples++;
    for (const j of this.judged) {
      of(j.category).judged++;
      if (j.correct) of(j.category).correct++;
    }
    const all = rate(this.judged);
    return { station, examples: this.examples.length, ...all, recent: rate(this.judged.slice(-window)), perCategory };
  }

  private write(line: Line): void {
    this.lines?.append(line);
    this.apply(line);
  }

  private apply(line: Line): void {
    if ('features' in line) {
      this.pending.set(line.partId, {
        features: line.features,
        ...(line.suggested ? { suggested: line.suggested } : {}),
      });
      if (this.pending.size > 10_000) this.pending.delete(this.pending.keys().next().value as string);
      return;
    }
    const part = this.pending.get(line.partId);
    if (!part) return;
    this.pending.delete(line.partId);
    this.examples.push({ features: part.features, category: line.category });
    if (this.examples.length > (this.options.keepExamples ?? 2000)) this.examples.shift();
    if (part.suggested) this.judged.push({ category: line.category, correct: part.suggested === line.category });
    if (this.judged.length > 10_000) this.judged.shift();
  }
}

/**
 * Marking where, in process: a decision's region is bounded by the contract, goes with a reject only,
 * rides in the closing the station writes before its verdict (so a restart, or a SIGKILL after the
 * write, finds it), and becomes a mask the size of the image, white where it was marked.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { DecisionSchema, type Region } from '../../contract/payloads.ts';
import { regionRefusal } from '../../contract/region.ts';
import { parsePayload } from '../../contract/validate.ts';
import { ReviewBook } from '../../edge/src/review/book.ts';
import { FileReviewStore } from '../../edge/src/review/store.ts';
import { regionMask } from '../../lab/region-mask.ts';
import { tempDir } from '../support/temp.ts';

const region: Region = {
  boxes: [{ x: 0.1, y: 0.2, w: 0.3, h: 0.2 }],
  strokes: [
    {
      r: 0.05,
      points: [
        [0.6, 0.8],
        [0.9, 0.8],
      ],
    },
  ],
};
const decision = (extra: object) => JSON.stringify({ partId: 'p1', decision: 'reject', user: 'ana', ...extra });

describe('a marked region', () => {
  it('is bounded by the contract: coordinates within the image, a few shapes, a few hundred points a stroke', () => {
    expect(parsePayload(DecisionSchema, decision({ region }))).toMatchObject({ ok: true });
    expect(
      parsePayload(DecisionSchema, decision({ region: { boxes: [{ x: 1.2, y: 0, w: 0.1, h: 0.1 }] } })),
    ).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(parsePayload(DecisionSchema, decision({ region: {} }))).toMatchObject({ ok: false });
    expect(
      parsePayload(DecisionSchema, decision({ region: { strokes: [{ r: 0.01, points: [[0.5]] }] } })),
    ).toMatchObject({ ok: false });
    const long = Array.from({ length: 257 }, (_, i) => [i / 300, 0.5]);
    expect(parsePayload(DecisionSchema, decision({ region: { strokes: [{ r: 0.01, points: long }] } }))).toMatchObject({
      ok: false,
    });
    const most = {
      boxes: Array.from({ length: 16 }, () => ({ x: 0.1, y: 0.1, w: 0.1, h: 0.1 })),
      strokes: Array.from({ length: 16 }, () => ({ r: 0.03, points: long.slice(0, 256) })),
    };
    expect(parsePayload(DecisionSchema, decision({ region: most }))).toMatchObject({ ok: true });
    expect(Buffer.byteLength(decision({ region: most }))).toBeLessThan(200_000); // a bounded MQTT message, at its largest
  });

  it('goes with a reject only', () => {
    expect(regionRefusal({ partId: 'p1', decision: 'reject', region })).toBeNull();
    expect(regionRefusal({ partId: 'p1', decision: 'accept' })).toBeNull();
    expect(regionRefusal({ partId: 'p1', decision: 'accept', region })).toContain('reject only');
  });

  it('rides in the closing, which the station writes before its verdict and reads back after a restart', async () => {
    const book = new ReviewBook();
    book.openReview({ partId: 'p1', score: 3, reasons: ['borderline'], openedAt: 0, deadline: 1000 });
    const outcome = book.decide(
      { partId: 'p1', decision: 'reject', user: 'ana', category: 'scratch', region },
      Date.parse('2026-12-05T01:00:00Z'),
    );
    if (outcome.kind !== 'decided') throw new Error(outcome.kind);
    expect(outcome.closing.region).toEqual(region);
    const dir = await tempDir('loupe-marked-');
    const store = new FileReviewStore(dir);
    store.opened(outcome.review);
    store.closed(outcome.closing);
    // no close(): the process dies right after the write
    expect(new FileReviewStore(dir).closings(3650).find((c) => c.partId === 'p1')?.region).toEqual(region);
  });

  it('is replaced by a correction, and dropped when the correction accepts the part', () => {
    const book = new ReviewBook();
    book.openReview({ partId: 'p1', score: 3, reasons: ['borderline'], openedAt: 0, deadline: 1000 });
    book.decide({ partId: 'p1', decision: 'reject', user: 'ana', region }, 10);
    const corrected = book.decide({ partId: 'p1', decision: 'accept', user: 'ana', correction: true }, 20);
    expect(corrected).toMatchObject({ kind: 'corrected' });
    if (corrected.kind === 'corrected') expect(corrected.closing.region).toBeUndefined();
  });

  it('becomes a mask the size of the image: white where marked, black elsewhere', async () => {
    const png = await regionMask(region, 200, 100);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([200, 100, 1]); // one channel, as MVTec masks
    const { data } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(new Set(data)).toEqual(new Set([0, 255]));
    const at = (x: number, y: number) => data[y * 200 + x];
    expect(at(40, 30)).toBe(255); // inside the box (20..80, 20..40)
    expect(at(90, 30)).toBe(0);
    expect(at(150, 80)).toBe(255); // on the stroke from (120, 80) to (180, 80), radius 5
    expect(at(150, 86)).toBe(0);
    expect(at(183, 80)).toBe(255); // its round end (radius 5 past 180)
    expect(at(187, 80)).toBe(0);
    expect(at(10, 90)).toBe(0);
  });
});

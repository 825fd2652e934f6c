import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pairing, type Shot } from '../../edge/src/cameras/pairing.ts';
import { InspectionError } from '../../edge/src/reasons.ts';

const shot = (name: string, at: number): Shot => ({ image: Buffer.from(name), at });
const reasonOf = (p: Promise<Shot>) =>
  p.then(
    () => 'paired',
    (e: unknown) => (e instanceof InspectionError ? e.code : String(e)),
  );

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('pairing frames with parts', () => {
  it('software trigger: the frame after the fire is the part’s, and a silent camera is missing_frame', async () => {
    const pairing = new Pairing({ mode: 'software', windowMs: 100, maxAgeMs: 100, timeoutMs: 500 });
    const first = pairing.request('p1', 10);
    pairing.offer(shot('f1', 30));
    expect(String((await first).image)).toBe('f1');
    const second = reasonOf(pairing.request('p2', 1000));
    await vi.advanceTimersByTimeAsync(501);
    expect(await second).toBe('missing_frame');
    pairing.offer(shot('late', 1600)); // the late frame is counted, not given to anyone
    expect(pairing.late).toBe(1);
  });

  it('hardware trigger: pairs by order within the window, whichever arrives first', async () => {
    const unpaired: string[] = [];
    const pairing = new Pairing({
      mode: 'hardware',
      windowMs: 100,
      maxAgeMs: 0,
      timeoutMs: 0,
      onUnpaired: (s) => unpaired.push(String(s.image)),
    });
    const a = pairing.request('a', 0);
    const b = pairing.request('b', 20);
    pairing.offer(shot('fa', 40));
    pairing.offer(shot('fb', 60));
    pairing.offer(shot('fc', 200)); // its trigger message comes after the frame
    const c = pairing.request('c', 230);
    expect([String((await a).image), String((await b).image), String((await c).image)]).toEqual(['fa', 'fb', 'fc']);
    expect(unpaired).toEqual([]);
  });

  it('hardware trigger: a trigger with no frame is missing_frame, a frame with no trigger is unpaired', async () => {
    const unpaired: string[] = [];
    const pairing = new Pairing({
      mode: 'hardware',
      windowMs: 100,
      maxAgeMs: 0,
      timeoutMs: 0,
      onUnpaired: (s) => unpaired.push(String(s.image)),
    });
    const lonely = reasonOf(pairing.request('no-frame', 0));
    pairing.offer(shot('f-for-next', 500)); // the lonely trigger is too old for it
    expect(await lonely).toBe('missing_frame');
    const next = pairing.request('next', 520);
    expect(String((await next).image)).toBe('f-for-next');
    pairing.offer(shot('stray', 900));
    await vi.advanceTimersByTimeAsync(101);
    expect(unpaired).toEqual(['stray']);
  });

  it('free run: takes the first frame at or after the trigger, never one from before, within the maximum age', async () => {
    const pairing = new Pairing({ mode: 'freerun', windowMs: 0, maxAgeMs: 80, timeoutMs: 0 });
    pairing.offer(shot('before', 90));
    const p = pairing.request('p', 100);
    pairing.offer(shot('after', 130));
    pairing.offer(shot('later', 170));
    expect(String((await p).image)).toBe('after');
    const old = reasonOf(pairing.request('q', 300));
    await vi.advanceTimersByTimeAsync(81);
    expect(await old).toBe('missing_frame');
  });

  it('a lost camera answers every waiting part camera_lost at once', async () => {
    const pairing = new Pairing({ mode: 'software', windowMs: 100, maxAgeMs: 100, timeoutMs: 60_000 });
    const waiting = [reasonOf(pairing.request('a', 0)), reasonOf(pairing.request('b', 1))];
    pairing.lost('camera gone');
    expect(await Promise.all(waiting)).toEqual(['camera_lost', 'camera_lost']);
    expect(pairing.waiting).toBe(0);
  });
});

/**
 * The manager's station page in Debian's Chromium, against `loupe start`: a short history that two
 * technicians decided (every part asked again, blind, of the other), then the manager drags the
 * thresholds on the chart and reads what the what-if answers, approves a setting, and settles a
 * disagreement, which lands in the part's timeline.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { person, type Client } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();
type Setting = {
  passBelow: number;
  rejectAbove: number;
  reviewRate: number | null;
  escapes: number;
  falseRejects: number;
  reviewed: number;
};

describe.skipIf(!chromium)('station page in Chromium', () => {
  let loupe: LoupeProcess;
  let browser: Browser;
  let page: Page;
  let quinn: Client;
  let tina: Client;

  beforeAll(async () => {
    const dir = await tempDir('loupe-station-page-');
    // Every part goes to a person (a cautious start), and every decision is asked again of the other person.
    const { file } = await writeConfig(
      {
        line: 'line-w',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        stations: [
          {
            id: 'cam-w',
            thresholds: { passBelow: 0, rejectAbove: 1e9 },
            audit: { share: 0 },
            review: { deadlineSeconds: 600, secondOpinionShare: 1 },
          },
        ],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
    browser = await launchChromium(chromium as string);
    tina = await person(loupe.httpUrl, 'tina');
    const ben = await person(loupe.httpUrl, 'ben');
    quinn = await person(loupe.httpUrl, 'quinn', 'manager');
    const parts: { partId: string; defective: boolean }[] = [];
    for (let i = 0; i < 10; i++) parts.push({ partId: `G-${i}`, defective: false });
    for (let i = 0; i < 5; i++) parts.push({ partId: `S-${i}`, defective: true });
    for (const [i, part] of parts.entries()) {
      const image = part.defective ? await defectivePart(i, 'scratch', 'png') : await goodPart(i, 'png');
      const response = await fetch(new URL(`/api/stations/cam-w/frames?partId=${part.partId}`, loupe.httpUrl), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(image),
      });
      expect(((await response.json()) as Result).verdict).toBe('review');
      // tina decides from the truth; the dashboard learns of the review from the broker first.
      for (let attempt = 0; ; attempt++) {
        const decided = await tina.post(
          `/api/reviews/line-w/cam-w/${part.partId}/decision`,
          part.defective ? { decision: 'reject', category: 'scratch' } : { decision: 'accept' },
        );
        if (decided.status === 202) break;
        expect(decided.status).toBe(404);
        expect(attempt).toBeLessThan(50);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // ben answers blind: right on all but two defects he lets through.
    for (let attempt = 0; ; attempt++) {
      const { waiting } = (await (await ben.get('/api/stations/cam-w/second-opinions')).json()) as {
        waiting: unknown[];
      };
      if (waiting.length === parts.length) break;
      expect(attempt).toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const part of parts) {
      const careless = part.partId === 'S-0' || part.partId === 'S-1';
      const given = await ben.post(
        `/api/stations/cam-w/second-opinions/${part.partId}`,
        part.defective && !careless ? { decision: 'reject', category: 'scratch' } : { decision: 'accept' },
      );
      expect(given.status).toBe(201);
    }
    const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
    page = await context.newPage();
    await page.goto(new URL('/station?station=cam-w', loupe.httpUrl).href);
    await page.fill('input[name=name]', 'quinn');
    await page.fill('input[name=password]', 'quinn-password-123');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/station/);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await loupe?.stop();
  });

  /** What the page shows for its setting, once the answer for the fields' values is in. */
  async function shown(): Promise<{ passBelow: number; rejectAbove: number; figures: Record<string, string> }> {
    await expect
      .poll(
        async () => {
          const fields = [await page.inputValue('#pass-below'), await page.inputValue('#reject-above')];
          const answered = [
            await page.getAttribute('#projection', 'data-pass-below'),
            await page.getAttribute('#projection', 'data-reject-above'),
          ];
          return (
            (await page.getAttribute('#projection', 'aria-busy')) === null &&
            fields[0] === answered[0] &&
            fields[1] === answered[1]
          );
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    const figures: Record<string, string> = {};
    for (const figure of ['reviewRate', 'escapes', 'falseRejects', 'reviewed'])
      figures[figure] = (await page.textContent(`#projection [data-figure=${figure}] .setting`)) ?? '';
    return {
      passBelow: Number(await page.inputValue('#pass-below')),
      rejectAbove: Number(await page.inputValue('#reject-above')),
      figures,
    };
  }

  /** The same setting asked of the what-if API, formatted as the page formats it. */
  async function asked(passBelow: number, rejectAbove: number): Promise<Record<string, string>> {
    const answer = (await (
      await quinn.get(`/api/stations/cam-w/what-if?passBelow=${passBelow}&rejectAbove=${rejectAbove}`)
    ).json()) as { settings: Setting[] };
    const s = answer.settings[0];
    return {
      reviewRate: s.reviewRate === null ? '—' : `${(s.reviewRate * 100).toFixed(1)}%`,
      escapes: String(s.escapes),
      falseRejects: String(s.falseRejects),
      reviewed: String(s.reviewed),
    };
  }

  /** Drags a threshold's handle with the mouse to the horizontal position x (page pixels), in steps. */
  async function drag(threshold: 'passBelow' | 'rejectAbove', x: number): Promise<void> {
    const grip = await page.locator(`.handle.${threshold} .handle-grip`).boundingBox();
    if (!grip) throw new Error(`no ${threshold} handle`);
    await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
    await page.mouse.down();
    await page.mouse.move(x, grip.y + grip.height / 2, { steps: 12 });
    await page.mouse.up();
  }

  it('is for managers: a technician is refused the page and its figures', async () => {
    expect((await tina.get('/station')).status).toBe(403);
    expect((await tina.get('/api/stations/cam-w/what-if')).status).toBe(403);
    expect((await tina.post('/api/stations/cam-w/disputes/S-0', { decision: 'accept' })).status).toBe(403);
  });

  it('moves the thresholds with the mouse and shows what the what-if answers for each setting; approves one', async () => {
    await page.waitForSelector('#what-if-svg rect.good');
    expect(await page.locator('#what-if-svg rect.defective').count()).toBeGreaterThan(0);
    // The two parts ben disputes are no label yet: the history rests on the other thirteen.
    expect(await page.textContent('#basis')).toContain('13 decisions: 10 accepted, 3 rejected');
    const start = await shown();
    // The thresholds in force: every part went to a person, nothing escaped, nothing rejected unseen.
    expect(start).toMatchObject({ passBelow: 0, rejectAbove: 1e9 });
    expect(start.figures).toEqual(await asked(0, 1e9));
    expect(start.figures).toMatchObject({ escapes: '0', falseRejects: '0', reviewRate: '100.0%' });
    expect(await page.textContent('#projection [data-figure=escapes] .now')).toBe('0');

    // passBelow dragged past the lowest defect: parts people rejected would now pass unseen.
    const defects = await page
      .locator('#what-if-svg rect.defective')
      .evaluateAll((rects) =>
        rects.map((r) => r.getBoundingClientRect()).map((b) => ({ left: b.left, right: b.right })),
      );
    const goods = await page
      .locator('#what-if-svg rect.good')
      .evaluateAll((rects) =>
        rects.map((r) => r.getBoundingClientRect()).map((b) => ({ left: b.left, right: b.right })),
      );
    const lowestDefect = Math.min(...defects.map((b) => b.left));
    const highestGood = Math.max(...goods.map((b) => b.right));
    await drag('passBelow', Math.max(...defects.map((b) => b.right)) + 2);
    const risky = await shown();
    expect(risky.passBelow).toBeGreaterThan(0);
    expect(risky.figures).toEqual(await asked(risky.passBelow, risky.rejectAbove));
    expect(Number(risky.figures.escapes)).toBeGreaterThan(0);
    expect(await page.isVisible('#escape-warning')).toBe(true);
    await screenshot(page, 'station-what-if-escapes');

    // Back below every defect and every good part, and rejectAbove just above the good parts: no escape, fewer reviews.
    const goodLeft = Math.min(...goods.map((b) => b.left));
    await drag('passBelow', Math.min(goodLeft, lowestDefect) - 3);
    await drag('rejectAbove', Math.max(highestGood, lowestDefect) + 3);
    const safe = await shown();
    expect(safe.rejectAbove).toBeLessThan(1e9);
    expect(safe.figures).toEqual(await asked(safe.passBelow, safe.rejectAbove));
    expect(safe.figures.escapes).toBe('0');
    expect(await page.isHidden('#escape-warning')).toBe(true);
    await screenshot(page, 'station-what-if', true);

    // A focused handle moves with the arrow keys too, and the figures follow.
    await page.focus('.handle.rejectAbove');
    for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowRight');
    const keyed = await shown();
    expect(keyed.rejectAbove).toBeGreaterThan(safe.rejectAbove);
    expect(keyed.figures).toEqual(await asked(keyed.passBelow, keyed.rejectAbove));
    for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowLeft');
    expect((await shown()).rejectAbove).toBeCloseTo(safe.rejectAbove, 1);
    await page.fill('#reject-above', String(safe.rejectAbove));
    await page.press('#reject-above', 'Enter');
    expect(await shown()).toEqual(safe);

    // Approving is the threshold approval every manager already has: a new version, signed by the session.
    await page.click('#approve');
    await expect.poll(() => page.textContent('#notice')).toContain('approved by quinn');
    const thresholds = (await (await quinn.get('/api/stations/cam-w/thresholds')).json()) as {
      current: { passBelow: number; rejectAbove: number };
      versions: { approvedBy: string; basis?: string }[];
    };
    expect(thresholds.current).toEqual({ passBelow: safe.passBelow, rejectAbove: safe.rejectAbove });
    expect(thresholds.versions.at(-1)).toMatchObject({
      approvedBy: 'quinn',
      basis: expect.stringContaining(`escapes ${safe.figures.escapes}`),
    });
    // the page now counts the approved setting as the one in force
    await expect
      .poll(() => page.textContent('#current-pair'))
      .toContain(`pass below ${Number(safe.passBelow).toPrecision(3)}`);
  });

  it('shows agreement per pair and per category, override rates, and settles a disagreement into the part’s timeline', async () => {
    await page.reload();
    await page.waitForSelector('#dispute-table');
    expect(await page.textContent('#dispute-count')).toBe('2');
    expect(await page.textContent('#pairs')).toContain('ben & tina');
    expect(await page.textContent('#category-agreement')).toContain('scratch');
    expect(await page.textContent('#override')).toContain('ben');
    expect(await page.textContent('#drift-body')).toBeTruthy();
    expect(await page.textContent('#suggestions-body')).toBeTruthy();

    const row = page.locator('#dispute-table tr[data-part="S-0"]');
    expect(await row.textContent()).toContain('tina: reject (scratch)');
    expect(await row.textContent()).toContain('ben: accept');
    await row.locator('input.category').fill('scratch');
    await row.locator('button.reject').click();
    await expect.poll(() => page.textContent('#dispute-count')).toBe('1');
    await expect.poll(() => page.textContent('#basis')).toContain('14 decisions: 10 accepted, 4 rejected'); // the what-if learns the settled answer
    expect(await page.locator('#dispute-table tr[data-part="S-0"]').count()).toBe(0);
    const disputes = (await (await quinn.get('/api/stations/cam-w/disputes')).json()) as {
      disputes: { partId: string }[];
    };
    expect(disputes.disputes.map((d) => d.partId)).toEqual(['S-1']);
    // ben was overridden on S-0: once in the 14 parts with a final answer (S-1 is still open), above the station's 1 in 28
    await expect.poll(() => page.locator('#override tr', { hasText: 'ben' }).textContent()).toContain('7.1%');
    expect(await page.locator('#override tr', { hasText: 'ben' }).textContent()).toContain('above');
    expect(await page.textContent('#agreement h3:last-of-type')).toContain('3.6%');
    const entry = (await (await quinn.get('/api/log/line-w/cam-w/S-0')).json()) as {
      timeline: { kind: string; user?: string; decision?: string }[];
    };
    expect(entry.timeline.filter((e) => e.kind === 'opinion' || e.kind === 'settled')).toEqual([
      expect.objectContaining({ kind: 'opinion', user: 'ben', decision: 'accept', agrees: false }),
      expect.objectContaining({ kind: 'settled', user: 'quinn', decision: 'reject', category: 'scratch' }),
    ]);
    await screenshot(page, 'station-settled');
    // The defect log's page tells the part's story with them; a disagreement links to its part there.
    await page.goto(new URL('/log#part=line-w%2Fcam-w%2FS-0', loupe.httpUrl).href);
    await page.waitForSelector('#detail:not([hidden])');
    const timeline = await page.textContent('#timeline');
    expect(timeline).toContain('ben gave a second opinion, blind: accept — disagrees; a manager settles it');
    expect(timeline).toContain('quinn settled the disagreement: reject (scratch)');
    await page.goto(new URL('/station?station=cam-w', loupe.httpUrl).href);
    await page.click('#dispute-table tr[data-part="S-1"] a');
    await page.waitForURL(/\/log#part=/);
    await expect.poll(() => page.textContent('#detail-title')).toContain('S-1');
    expect(await page.textContent('#timeline')).toContain('ben gave a second opinion, blind: accept');
    expect(await page.textContent('#timeline')).not.toContain('settled');
    await page.goto(new URL('/station?station=cam-w', loupe.httpUrl).href);
  });

  it('moves a threshold with a finger on a tablet', async () => {
    const context = await browser.newContext({
      viewport: { width: 900, height: 1200 },
      hasTouch: true,
      isMobile: true,
    });
    const tablet = await context.newPage();
    await tablet.goto(new URL('/station?station=cam-w', loupe.httpUrl).href);
    await tablet.fill('input[name=name]', 'quinn');
    await tablet.fill('input[name=password]', 'quinn-password-123');
    await tablet.click('button[type=submit]');
    await tablet.waitForSelector('#what-if-svg rect.defective');
    await expect.poll(() => tablet.getAttribute('#projection', 'data-pass-below')).not.toBeNull();
    const before = await tablet.inputValue('#pass-below');
    const grip = await tablet.locator('.handle.passBelow .handle-grip').boundingBox();
    const defects = await tablet
      .locator('#what-if-svg rect.defective')
      .evaluateAll((rects) => rects.map((r) => r.getBoundingClientRect().right));
    if (!grip) throw new Error('no passBelow handle');
    const y = grip.y + grip.height / 2;
    const cdp = await context.newCDPSession(tablet);
    await cdp.send('Input.dispatchTouchEvent', {
      type: 'touchStart',
      touchPoints: [{ x: grip.x + grip.width / 2, y }],
    });
    const target = Math.max(...defects) + 2;
    for (let i = 1; i <= 10; i++)
      await cdp.send('Input.dispatchTouchEvent', {
        type: 'touchMove',
        touchPoints: [{ x: grip.x + grip.width / 2 + ((target - grip.x - grip.width / 2) * i) / 10, y }],
      });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await expect
      .poll(
        async () =>
          (await tablet.getAttribute('#projection', 'aria-busy')) === null &&
          (await tablet.getAttribute('#projection', 'data-pass-below')) === (await tablet.inputValue('#pass-below')),
      )
      .toBe(true);
    const passBelow = Number(await tablet.inputValue('#pass-below'));
    expect(String(passBelow)).not.toBe(before);
    const figures = await asked(passBelow, Number(await tablet.inputValue('#reject-above')));
    expect(await tablet.textContent('#projection [data-figure=escapes] .setting')).toBe(figures.escapes);
    expect(Number(figures.escapes)).toBeGreaterThan(0);
    await context.close();
  });

  it('says when the station drifts, with the evidence, from its status', async () => {
    // A drift reading takes hundreds of passed parts; here the station's status is given one on its way to the page.
    const drift = {
      detected: true,
      signals: ['passed_scores'],
      passedScores: {
        reference: 500,
        recent: 500,
        statistic: 0.35,
        pValue: 1e-12,
        referenceMedian: 0.3,
        recentMedian: 0.45,
      },
      reviewRate: { reference: 0.05, recent: 0.06, referenceParts: 1000, recentParts: 500, pValue: 0.2 },
    };
    await page.route(/\/api\/stations$/, async (route) => {
      const response = await route.fetch();
      const statuses = (await response.json()) as { station: string }[];
      await route.fulfill({ response, json: statuses.map((s) => (s.station === 'cam-w' ? { ...s, drift } : s)) });
    });
    await page.reload();
    await page.waitForSelector('#drift-verdict');
    expect(await page.textContent('#drift-verdict')).toContain('Drift: the passed parts score differently');
    expect(await page.textContent('#drift-body tr[data-signal="passed_scores"]')).toContain('median 0.300 → 0.450');
    expect(await page.textContent('#drift-body tr[data-signal="passed_scores"]')).toContain(
      'Kolmogorov-Smirnov D 0.35',
    );
    expect(await page.getAttribute('#drift-body tr[data-signal="passed_scores"]', 'class')).toBe('shifted');
    expect(await page.textContent('#drift-body tr[data-signal="review_rate"]')).toContain('5.0% → 6.0%');
    expect(await page.getAttribute('#drift-body tr[data-signal="review_rate"]', 'class')).toBe('');
    await page.waitForSelector('#pairs');
    await page.locator('#drift-panel').evaluate((section) => section.scrollIntoView());
    await screenshot(page, 'station-agreement', true);
    await page.unroute(/\/api\/stations$/);
  });
});

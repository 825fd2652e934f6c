/**
 * The quality manager's view in Debian's Chromium, against `loupe start`: a small shift of parts
 * (passes, model rejects, an unreadable frame a technician rejects), then the manager filters the
 * log, opens a part with its timeline, and exports the filtered view as CSV.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { person, type Client } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();

describe.skipIf(!chromium)('defect log in Chromium', () => {
  let loupe: LoupeProcess;
  let browser: Browser;
  let tech: Client;

  const post = async (partId: string, body: Buffer, type = 'image/png') => {
    const response = await fetch(new URL(`/api/stations/cam-m/frames?partId=${partId}`, loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': type },
      body: new Uint8Array(body),
    });
    return (await response.json()) as Result;
  };

  beforeAll(async () => {
    const dir = await tempDir('loupe-manager-');
    const { file } = await writeConfig(
      {
        line: 'line-m',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        stations: [{ id: 'cam-m', audit: { share: 0 }, review: { deadlineSeconds: 600 } }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
    browser = await launchChromium(chromium as string);
    tech = await person(loupe.httpUrl, 'tina');
    for (let i = 0; i < 3; i++) expect((await post(`GOOD-${i}`, await goodPart(i, 'png'))).verdict).toBe('pass');
    for (let i = 0; i < 2; i++)
      expect((await post(`SCRATCH-${i}`, await defectivePart(i, 'scratch', 'png'))).verdict).toBe('reject');
    const unreadable = await post('BROKEN-1', Buffer.from('not an image at all'), 'image/jpeg');
    expect(unreadable).toMatchObject({ verdict: 'review', reasons: ['unreadable_image'] });
    // The technician rejects it; the dashboard learns of the review from the broker first.
    for (let attempt = 0; ; attempt++) {
      const decided = await tech.post('/api/reviews/line-m/cam-m/BROKEN-1/decision', {
        decision: 'reject',
        category: 'contamination',
        note: 'label, "smeared"',
      });
      if (decided.status === 202) break;
      expect(decided.status).toBe(404);
      expect(attempt).toBeLessThan(50);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await loupe?.stop();
  });

  it('is for managers: a technician is refused the page and the API', async () => {
    expect((await tech.get('/log')).status).toBe(403);
    expect((await tech.get('/api/log')).status).toBe(403);
  });

  it('lets a manager filter the log, open a part with its timeline, and export the view as CSV', async () => {
    await person(loupe.httpUrl, 'quinn', 'manager');
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(new URL('/log', loupe.httpUrl).href);
    await page.fill('input[name=name]', 'quinn');
    await page.fill('input[name=password]', 'quinn-password-123');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/log/);
    // Six parts inspected, three passed: the counts cover every inspection, stored or not.
    // Each try waits for its view: a newer request drops the reply of an older one still on its way.
    await expect
      .poll(
        async () => {
          await page.click('#filters button[type=submit]');
          await page.waitForSelector('#log:not([aria-busy])');
          return page.textContent('[data-total="inspected"] strong');
        },
        { timeout: 10_000 },
      )
      .toBe('6');
    expect(await page.textContent('[data-total="yield"] strong')).toBe('50.0%');
    expect(await page.locator('#log tr.entry').count()).toBe(3); // two model rejects and the reviewed part
    await expect.poll(() => page.textContent('#chart-pareto')).toContain('contamination');
    await screenshot(page, 'manager-log', true);
    // filters for known values are lists, reasons in plain words; times in one format
    const reasons = await page.$$eval('select[name=reason] option', (options) => options.map((o) => o.textContent));
    expect(reasons).toContain('the image could not be read');
    expect(
      await page.$$eval('select[name=station] option', (options) => options.map((o) => (o as HTMLOptionElement).value)),
    ).toEqual(['', 'cam-m']);
    expect(await page.textContent('#log tr.entry td')).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    // a time range is typed in the same format
    await page.fill('input[name=from]', '2020-01-01 06:00');
    await page.click('#filters button[type=submit]');
    await expect.poll(() => page.url()).toContain('from=2020-01-01T');
    await page.waitForSelector('#log:not([aria-busy])');
    expect(await page.locator('#log tr.entry').count()).toBe(3);
    await page.fill('input[name=from]', '');

    await page.selectOption('select[name=decidedBy]', 'human');
    await page.click('#filters button[type=submit]');
    await expect.poll(() => page.locator('#log tr.entry').count()).toBe(1);
    expect(page.url()).toContain('decidedBy=human');
    expect(await page.textContent('#log tr.entry')).toContain('BROKEN-1');

    await page.click('#log tr.entry');
    await page.waitForSelector('#detail:not([hidden])');
    const timeline = await page.textContent('#timeline');
    expect(timeline).toContain('model: review');
    expect(timeline).toContain('tina decided reject (contamination)');
    expect(timeline).toContain('final: reject, decided by human (tina)');
    await expect.poll(() => page.textContent('#detail-meta')).toContain('cannot be shown');
    expect(await page.isHidden('#detail-image')).toBe(true);
    await page.keyboard.press('Escape');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
    // A scored part's detail: its image with the anomaly map over it.
    // A slow reply for older filters does not overwrite the newer view: the human view is held back
    // until the model view is drawn. Until then the table shows BROKEN-1, which has no anomaly map.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(/\/api\/log\?.*decidedBy=human/, async (route) => {
      await held;
      await route.continue();
    });
    await page.click('#filters button[type=submit]');
    const late = page.waitForResponse(/\/api\/log\?.*decidedBy=human/);
    await page.selectOption('select[name=decidedBy]', 'model');
    await page.click('#filters button[type=submit]');
    await page.waitForSelector('#log:not([aria-busy])');
    release();
    await late;
    await page.evaluate(() => new Promise(requestAnimationFrame));
    expect(await page.locator('#log tr.entry').allTextContents()).toEqual([
      expect.stringContaining('SCRATCH-'),
      expect.stringContaining('SCRATCH-'),
    ]);
    await page.click('#log tr.entry >> nth=0');
    await page.waitForFunction(() => (document.getElementById('detail-map') as HTMLImageElement).naturalWidth > 0);
    await screenshot(page, 'manager-part');
    const csv = await readFile((await download.path()) as string, 'utf8');
    const lines = csv.trim().split(/\r?\n/);
    expect(lines).toHaveLength(2); // the header and the one part the filter shows
    expect(lines[0]).toContain('partId');
    expect(lines[1]).toContain('BROKEN-1');
    expect(lines[1]).toContain('"label, ""smeared"""'); // a note with a comma and quotes survives
    // a link the manager can open, not the evidence store's segment reference
    expect(lines[1]).toContain(`${new URL(loupe.httpUrl).origin}/log#part=line-m%2Fcam-m%2FBROKEN-1`);
    expect(lines[1]).not.toMatch(/\.seg#/);
    await context.close();
  });
});

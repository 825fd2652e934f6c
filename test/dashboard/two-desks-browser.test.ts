/**
 * Two dashboards on one broker, in Debian's Chromium: `loupe start` (station, embedded broker,
 * dashboard A) and a second `loupe dashboard` (B) on the same broker. A part opened by ana on A
 * shows on ben's screen on B as hers and cannot be decided there; a decision the station refuses
 * comes back to ana's screen.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Review } from '../../contract/payloads.ts';
import { chromiumPath, launchChromium, loggedIn } from '../support/browser.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart } from '../support/parts.ts';
import { person } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();

describe.skipIf(!chromium)('two dashboards on one broker, in Chromium', () => {
  let a: LoupeProcess;
  let b: LoupeProcess;
  let plc: Collector;
  let browser: Browser;

  beforeAll(async () => {
    const dir = await tempDir('loupe-two-desks-');
    const mqttPort = await freePort();
    const station = { id: 'cam-t', thresholds: { passBelow: 0, rejectAbove: 1e9 }, review: { deadlineSeconds: 600 } };
    const first = await writeConfig(
      {
        line: 'line-t',
        dataDir: path.join(dir, 'a'),
        mqtt: { port: mqttPort },
        http: { port: 0 },
        stations: [station],
      },
      path.join(dir),
    );
    a = await startLoupe('start', ['--config', first.file]);
    const secondDir = await tempDir('loupe-two-desks-b-');
    const second = await writeConfig(
      {
        line: 'line-t',
        dataDir: path.join(secondDir, 'b'),
        mqtt: { url: a.mqttUrl },
        http: { port: 0 },
        stations: [station],
      },
      secondDir,
    );
    b = await startLoupe('dashboard', ['--config', second.file]);
    await person(a.httpUrl, 'ana');
    await person(b.httpUrl, 'ben');
    plc = await Collector.connect(a.mqttUrl, ['loupe/line-t/cam-t/#']);
    browser = await launchChromium(chromium as string);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await plc?.close();
    await b?.stop();
    await a?.stop();
  });

  const item = (page: Page, partId: string) => page.locator(`#queue li[data-part="${partId}"]`);

  it('shows on one dashboard a part claimed on the other, and does not let it be decided there', async () => {
    const response = await fetch(new URL('/api/stations/cam-t/frames?partId=T-1', a.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(await defectivePart(1, 'scratch', 'png')),
    });
    expect(response.status).toBe(200);
    await plc.waitFor('review of T-1', () => plc.json<Review>('/review/T-1')[0]);
    const ana = await loggedIn(browser, a.httpUrl, 'ana', 'ana-password-123');
    await item(ana.page, 'T-1').click(); // opening it claims it
    await expect.poll(() => ana.page.textContent('#part-id'), { timeout: 10_000 }).toBe('T-1');
    await ana.page.waitForSelector('#accept:not([disabled])');
    const ben = await loggedIn(browser, b.httpUrl, 'ben', 'ben-password-123');
    await item(ben.page, 'T-1').waitFor();
    await expect.poll(() => item(ben.page, 'T-1').textContent(), { timeout: 10_000 }).toContain('ana is deciding');
    await item(ben.page, 'T-1').click();
    await ben.page.keyboard.press('A');
    await expect.poll(() => ben.page.textContent('#notice')).toContain('ana is deciding');
    await ana.page.keyboard.press('A');
    await item(ben.page, 'T-1').waitFor({ state: 'detached', timeout: 10_000 });
    await ana.context.close();
    await ben.context.close();
  });

  it('shows the person a decision the station refused', async () => {
    // A review the station does not hold (left retained on the broker by someone): deciding it is refused.
    const now = Date.now();
    const ghost: Review = {
      schema: 'loupe/review@1',
      line: 'line-t',
      station: 'cam-t',
      partId: 'GHOST-1',
      score: 1,
      thresholds: { passBelow: 0, rejectAbove: 1e9 },
      model: { id: 'default', version: '1' },
      reasons: ['borderline'],
      openedAt: new Date(now).toISOString(),
      deadline: new Date(now + 600_000).toISOString(),
      defaultAction: 'reject',
      categories: ['scratch'],
    };
    await plc.client.publishAsync('loupe/line-t/cam-t/review/GHOST-1', JSON.stringify(ghost), { qos: 1, retain: true });
    const ana = await loggedIn(browser, a.httpUrl, 'ana', 'ana-password-123');
    await item(ana.page, 'GHOST-1').click();
    await expect.poll(() => ana.page.textContent('#part-id'), { timeout: 10_000 }).toBe('GHOST-1');
    await ana.page.waitForSelector('#accept:not([disabled])'); // the guard after a part is shown
    await ana.page.keyboard.press('A');
    await expect
      .poll(() => ana.page.textContent('#notice'), { timeout: 20_000 })
      .toContain('the station refused your decision');
    await ana.context.close();
    await plc.client.publishAsync('loupe/line-t/cam-t/review/GHOST-1', '', { qos: 1, retain: true });
  });
});

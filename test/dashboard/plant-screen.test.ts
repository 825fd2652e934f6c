/**
 * One screen for many stations, in Chromium: a dashboard on a broker that carries the stations of
 * several edge boxes shows a shift lead every line's reviews and each station's health, and a
 * technician (`/?line=…`) only the reviews and stations of their line.
 */
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Review, Status } from '../../contract/payloads.ts';
import { topics } from '../../contract/topics.ts';
import { chromiumPath, launchChromium, loggedIn } from '../support/browser.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { ADMIN } from '../support/session.ts';
import { mosquittoPath, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();
const mosquitto = mosquittoPath();
const PREFIX = 'loupe/site-a';

describe.skipIf(!chromium || !mosquitto)('one screen for the stations of many edge boxes', () => {
  let broker: Mosquitto;
  let dashboard: LoupeProcess;
  let browser: Browser;
  let boxes: Collector;

  beforeAll(async () => {
    broker = await startMosquitto(mosquitto as string);
    // Two edge boxes' stations, as their bridges deliver them: retained status and open reviews.
    boxes = await Collector.connect(broker.url, [`${PREFIX}/+/+/decision`]);
    const now = Date.now();
    for (const [line, station, outboxDepth] of [
      ['line-a', 'cam-1', 0],
      ['line-b', 'cam-1', 12],
      ['line-b', 'cam-2', 0],
    ] as const) {
      const address = { prefix: PREFIX, line, station };
      const status: Status = {
        schema: 'loupe/status@1',
        line,
        station,
        state: 'online',
        modelLoaded: true,
        queueDepth: 0,
        overloaded: false,
        openReviews: 1,
        outboxDepth,
        lastFrameAgeMs: 10,
        at: new Date(now).toISOString(),
      };
      const partId = `${line}-${station}-P1`;
      const review: Review = {
        schema: 'loupe/review@1',
        line,
        station,
        partId,
        score: 5,
        thresholds: { passBelow: 2, rejectAbove: 10 },
        model: { id: 'm', version: '1' },
        reasons: ['borderline'],
        openedAt: new Date(now).toISOString(),
        deadline: new Date(now + 600_000).toISOString(),
        defaultAction: 'reject',
        categories: ['dent'],
      };
      await boxes.client.publishAsync(topics.status(address), JSON.stringify(status), { qos: 1, retain: true });
      await boxes.client.publishAsync(topics.review(address, partId), JSON.stringify(review), { qos: 1, retain: true });
    }
    const dir = await tempDir('loupe-plant-screen-');
    const { file } = await writeConfig(
      {
        dataDir: path.join(dir, 'data'),
        mqtt: { url: broker.url, topicPrefix: PREFIX },
        http: { port: 0 },
        stations: [{ id: 'unused' }],
      },
      dir,
    );
    dashboard = await startLoupe('dashboard', ['--config', file]);
    browser = await launchChromium(chromium as string);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await boxes?.close();
    await dashboard?.stop();
    await broker?.stop();
  });

  it("shows a shift lead every line's reviews and every station's health", async () => {
    const { context, page } = await loggedIn(browser, dashboard.httpUrl, ADMIN.name, ADMIN.password);
    await page.waitForSelector('#queue li[data-part="line-b-cam-2-P1"]');
    const parts = await page.$$eval('#queue li', (items) => items.map((li) => (li as HTMLElement).dataset.part));
    expect(parts.sort()).toEqual(['line-a-cam-1-P1', 'line-b-cam-1-P1', 'line-b-cam-2-P1']);
    const stations = await page.textContent('#stations');
    expect(stations).toContain('line-a/cam-1: online · 1 to review');
    expect(stations).toContain('line-b/cam-1: online · 1 to review · 12 unsent');
    await context.close();
  });

  it('shows a technician only the reviews and stations of their line', async () => {
    const { context, page } = await loggedIn(browser, dashboard.httpUrl, ADMIN.name, ADMIN.password);
    await page.goto(new URL('/?line=line-a', dashboard.httpUrl).toString());
    await page.waitForSelector('#queue li[data-part="line-a-cam-1-P1"]');
    await page.waitForFunction(() => (document.querySelector('#stations')?.textContent ?? '').includes('cam-1'));
    const parts = await page.$$eval('#queue li', (items) => items.map((li) => (li as HTMLElement).dataset.part));
    expect(parts).toEqual(['line-a-cam-1-P1']);
    const stations = await page.$$eval('#stations li', (items) => items.map((li) => li.textContent));
    expect(stations).toEqual(['cam-1: online · 1 to review']);
    await context.close();
  });
});

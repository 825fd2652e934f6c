/**
 * What helps the technician decide, in Debian's Chromium against `loupe start`: the category the
 * station suggests from people's earlier categories, confirmed with one key (S); the nearest part
 * people accepted shown beside the part, aligned, toggled with G; and a drifting station said in
 * plain words above the queue.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Review, Status, VerdictMessage } from '../../contract/payloads.ts';
import { GoldenSchema, type Golden } from '../../contract/golden.ts';
import { chromiumPath, launchChromium, loggedIn, screenshot } from '../support/browser.ts';
import { Collector } from '../support/collector.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { person, type Client } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });
const chromium = chromiumPath();
const LINE = 'line-r';
const STATION = 'cam-r';

describe.skipIf(!chromium)('the technician screen helps a person decide', () => {
  let loupe: LoupeProcess;
  let plc: Collector;
  let browser: Browser;
  let ana: Client;
  const password = 'ana-password-123';

  beforeAll(async () => {
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'models', 'default', 'manifest.json'), 'utf8')) as {
      thresholds: { rejectAbove: number };
    };
    const dir = await tempDir('loupe-aids-');
    const { file } = await writeConfig(
      {
        line: LINE,
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        // Every part goes to a person, good ones included: a good part accepted becomes a reference.
        stations: [
          {
            id: STATION,
            thresholds: { passBelow: 1e-6, rejectAbove: manifest.thresholds.rejectAbove * 12 },
            audit: { share: 0 },
            review: { deadlineSeconds: 600 },
          },
        ],
        dashboard: { undoSeconds: 1 },
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
    plc = await Collector.connect(loupe.mqttUrl, [`loupe/${LINE}/${STATION}/#`]);
    browser = await launchChromium(chromium as string);
    ana = await person(loupe.httpUrl, 'ana');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await plc?.close();
    await loupe?.stop();
  });

  let parts = 0;
  /** A part at the edge; resolves with its review once open. */
  async function inject(prefix: string, picture: 'good' | 'scratch'): Promise<Review> {
    const partId = `${prefix}-${++parts}`;
    const png = picture === 'good' ? await goodPart(parts, 'png') : await defectivePart(parts, 'scratch', 'png');
    const response = await fetch(new URL(`/api/stations/${STATION}/frames?partId=${partId}`, loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(png),
    });
    expect((await response.json()) as { verdict: string }).toMatchObject({ verdict: 'review' });
    return plc.waitFor(`review of ${partId}`, () => plc.json<Review>(`/review/${partId}`)[0]);
  }

  /** A person's decision through the API (as another screen would send it); resolves on the final verdict. */
  async function decided(
    partId: string,
    body: { decision: 'accept' | 'reject'; category?: string },
  ): Promise<VerdictMessage> {
    const response = await ana.post(`/api/reviews/${LINE}/${STATION}/${partId}/decision`, body);
    expect(response.status, await response.clone().text()).toBe(202);
    return plc.waitFor(`verdict of ${partId}`, () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId),
    );
  }

  async function openPart(page: Page, partId: string): Promise<void> {
    await page.locator(`#queue li[data-part="${partId}"]`).click();
    await poll(() => page.textContent('#part-id')).toBe(partId);
    await page.waitForSelector('#accept:not([disabled])');
  }

  it('says so, and sends nothing, when S is pressed on a part with no suggestion', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', password);
    // First in this file: no person has named a category at this station yet, so nothing is suggested.
    const review = await inject('PLAIN', 'scratch');
    expect(review.suggestion).toBeUndefined();
    await openPart(page, review.partId);
    expect(await page.isHidden('#suggestion')).toBe(true);
    await page.keyboard.press('S');
    await poll(() => page.textContent('#notice')).toContain('No category is suggested');
    expect(plc.json<VerdictMessage>('/verdict').find((v) => v.partId === review.partId)).toBeUndefined();
    await decided(review.partId, { decision: 'reject' }); // out of the way of the next tests
    await context.close();
  });

  it('shows the suggested category with its confidence, and S rejects the part with it', async () => {
    // People named five rejected parts "dent": the station learns to suggest it for the next.
    for (let i = 0; i < 5; i++) {
      const review = await inject('LABEL', 'scratch');
      await decided(review.partId, { decision: 'reject', category: 'dent' });
    }
    const review = await inject('SUGGEST', 'scratch');
    expect(review.suggestion).toMatchObject({ category: 'dent' });
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', password);
    await openPart(page, review.partId);
    await poll(() => page.textContent('#suggestion')).toContain('Suggested: dent');
    expect(await page.textContent('#suggestion .confidence')).toBe(
      `${Math.round((review.suggestion?.confidence ?? 0) * 100)}% sure`,
    );
    expect(await page.getAttribute('.category.suggested', 'class')).toContain('suggested');
    expect(await page.textContent('.category.suggested')).toContain('dent');
    await screenshot(page, 'technician-suggestion', true);
    await page.keyboard.press('S');
    const verdict = await plc.waitFor('verdict of the suggested part', () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === review.partId),
    );
    expect(verdict).toMatchObject({ verdict: 'reject', decidedBy: 'human', user: 'ana', category: 'dent' });
    await context.close();
  });

  it('shows the nearest part people accepted beside the part, aligned and at the same zoom, and G hides it again', async () => {
    const good = await inject('GOOD', 'good');
    await decided(good.partId, { decision: 'accept' });
    const review = await inject('LOOK', 'scratch');
    // The edge's answer matches its published schema, and names the accepted part as the reference.
    const answer = await ana.get(`/api/parts/${LINE}/${STATION}/${review.partId}/golden`);
    expect(answer.status).toBe(200);
    const golden = (await answer.json()) as Golden;
    const ajv = new Ajv2020({ strict: false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    expect(ajv.validate(GoldenSchema, golden), ajv.errorsText()).toBe(true);
    expect(golden.golden).toMatchObject({ partId: good.partId, acceptedBy: 'ana' });

    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', password);
    await page.evaluate(() => localStorage.removeItem('loupe.golden'));
    await openPart(page, review.partId);
    expect(await page.isHidden('#golden')).toBe(true);
    await page.keyboard.press('G');
    await page.waitForSelector('#golden:not([hidden])');
    await page.waitForFunction(() => (document.getElementById('golden-image') as HTMLImageElement).naturalWidth > 0);
    expect(await page.getAttribute('#golden-label', 'data-golden')).toBe(good.partId);
    expect(await page.textContent('#golden-label')).toContain('accepted by ana');
    // Side by side: the part's half and the good part's half do not overlap.
    const [part, ref] = await Promise.all([
      page.locator('#stage').boundingBox(),
      page.locator('#golden').boundingBox(),
    ]);
    expect(part && ref && part.x + part.width <= ref.x + 1).toBe(true);
    // Zoom moves both alike.
    await page.keyboard.press('+');
    await poll(() => page.evaluate(() => document.getElementById('golden-stage')?.style.transform)).toBe(
      await page.evaluate(() => document.getElementById('stage')?.style.transform),
    );
    await page.keyboard.press('0');
    await screenshot(page, 'technician-golden', true);
    // Stays on for the next part opened, and is fetched for it.
    const next = await inject('LOOK', 'scratch');
    await openPart(page, next.partId);
    await page.waitForFunction(() => (document.getElementById('golden-image') as HTMLImageElement).naturalWidth > 0);
    expect(await page.isVisible('#golden')).toBe(true);
    await page.keyboard.press('G');
    await page.waitForSelector('#golden', { state: 'hidden' });
    await context.close();
  });

  it('answers 404 with a reason for a part whose frame is not kept', async () => {
    const response = await ana.get(`/api/parts/${LINE}/cam-none/NOPE-1/golden`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });

  it('says in plain words that a station drifts, with the evidence, and that nothing was changed', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', password);
    expect(await page.isHidden('#drift')).toBe(true);
    const status: Status = {
      schema: 'loupe/status@1',
      line: LINE,
      station: 'cam-z',
      state: 'online',
      drift: {
        detected: true,
        signals: ['passed_scores', 'review_rate'],
        passedScores: {
          reference: 500,
          recent: 500,
          statistic: 0.41,
          pValue: 1e-9,
          referenceMedian: 3.1,
          recentMedian: 5.2,
        },
        reviewRate: { reference: 0.04, recent: 0.19, referenceParts: 500, recentParts: 500, pValue: 1e-6 },
      },
      at: new Date().toISOString(),
    };
    await plc.client.publishAsync(`loupe/${LINE}/cam-z/status`, JSON.stringify(status), { qos: 1, retain: true });
    await page.waitForSelector('#drift:not([hidden])');
    const said = await page.textContent('#drift');
    expect(said).toContain('cam-z: passed parts now score differently from before (median 3.10 then, 5.20 now');
    expect(said).toContain('more parts go to a person than before (4.0% then, 19.0% now');
    expect(said).toContain('Nothing was changed');
    await screenshot(page, 'technician-drift', true);
    // Back to normal: the banner goes.
    await plc.client.publishAsync(
      `loupe/${LINE}/cam-z/status`,
      JSON.stringify({ ...status, drift: { detected: false, signals: [] } }),
      { qos: 1, retain: true },
    );
    await page.waitForSelector('#drift', { state: 'hidden' });
    await plc.client.publishAsync(`loupe/${LINE}/cam-z/status`, '', { qos: 1, retain: true });
    await context.close();
  });
});

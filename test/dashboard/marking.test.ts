/**
 * Marking where, end to end against `loupe start` in Debian's Chromium: a technician marks the defect
 * on the picture (a box with the mouse, a brush with a finger) and rejects; the station keeps the
 * region with the decision (its decisions file, what survives a SIGKILL), the defect log shows it in
 * the part's timeline and view; a decision over MQTT carries one too, and one with accept is refused;
 * `loupe export` writes the marks as MVTec ground_truth masks and `loupe eval` on the exported set
 * reports the pixel AUROC.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, ErrorMessage, LogMessage, Region, Review, VerdictMessage } from '../../contract/payloads.ts';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { chromiumPath, launchChromium, loggedIn, screenshot } from '../support/browser.ts';
import { Collector } from '../support/collector.ts';
import { repoRoot, runLoupe, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart } from '../support/parts.ts';
import { login, person } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();
const LINE = 'line-m';
const STATION = 'cam-m';

describe.skipIf(!chromium)('marking where the defect is', () => {
  let loupe: LoupeProcess;
  let plc: Collector;
  let browser: Browser;
  let dir: string;
  let configFile: string;
  const password = 'mia-password-123';

  beforeAll(async () => {
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'models', 'default', 'manifest.json'), 'utf8')) as {
      thresholds: { passBelow: number; rejectAbove: number };
    };
    dir = await tempDir('loupe-mark-');
    const { file } = await writeConfig(
      {
        line: LINE,
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        // Every part injected here is defective and lands between the thresholds: all "borderline".
        stations: [
          {
            id: STATION,
            thresholds: { passBelow: manifest.thresholds.passBelow, rejectAbove: manifest.thresholds.rejectAbove * 12 },
            audit: { share: 0 },
            review: { deadlineSeconds: 600 },
          },
        ],
        dashboard: { undoSeconds: 0 },
      },
      dir,
    );
    configFile = file;
    loupe = await startLoupe('start', ['--config', file]);
    plc = await Collector.connect(loupe.mqttUrl, [`loupe/${LINE}/${STATION}/#`]);
    browser = await launchChromium(chromium as string);
    await person(loupe.httpUrl, 'mia');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await plc?.close();
    await loupe?.stop();
  });

  let parts = 0;
  /** A part at the edge; resolves once its review is open. */
  async function inject(prefix: string): Promise<string> {
    const partId = `${prefix}-${++parts}`;
    const response = await fetch(new URL(`/api/stations/${STATION}/frames?partId=${partId}`, loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(await defectivePart(parts, 'scratch', 'png')),
    });
    expect((await response.json()) as { verdict: string }).toMatchObject({ verdict: 'review' });
    await plc.waitFor(`review of ${partId}`, () => plc.json<Review>(`/review/${partId}`)[0]);
    return partId;
  }

  /** The station's record of a part's decision: a row of its store's decisions, as written before the verdict went out. */
  async function stored(
    partId: string,
  ): Promise<{ verdict: string; user?: string; category?: string; region?: Region }> {
    await plc.waitFor(`verdict of ${partId}`, () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId),
    );
    const db = new Database(path.join(dir, 'data', 'reviews', LINE, STATION, 'station.db'), { readonly: true });
    try {
      const found = (
        db.prepare('SELECT closing FROM decisions WHERE part_id = ?').all(partId) as { closing: string }[]
      ).map((row) => JSON.parse(row.closing) as { partId: string });
      expect(found).toHaveLength(1);
      return found[0] as never;
    } finally {
      db.close();
    }
  }

  /** Opens a part as a person does and waits for its picture and for the keys to act on it. */
  async function openPart(page: Page, partId: string, tap = false): Promise<void> {
    const item = page.locator(`#queue li[data-part="${partId}"]`);
    await (tap ? item.tap() : item.click());
    await expect.poll(() => page.textContent('#part-id'), { timeout: 10_000 }).toBe(partId);
    await page.waitForFunction(() => (document.getElementById('part-image') as HTMLImageElement).naturalWidth > 0);
    await page.waitForSelector('#reject:not([disabled])');
  }

  /** Where a point of the picture (normalised) is on the screen: the image is letterboxed in the viewer. */
  async function onScreen(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
    return page.evaluate(
      ([nx, ny]) => {
        const image = document.getElementById('part-image') as HTMLImageElement;
        const rect = image.getBoundingClientRect();
        const scale = Math.min(rect.width / image.naturalWidth, rect.height / image.naturalHeight);
        const w = image.naturalWidth * scale;
        const h = image.naturalHeight * scale;
        return { x: rect.left + (rect.width - w) / 2 + nx * w, y: rect.top + (rect.height - h) / 2 + ny * h };
      },
      [x, y],
    );
  }

  let boxed = '';
  let brushed = '';

  it('marks a box with the mouse, rejects, and the station keeps the region with the decision', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'mia', password);
    boxed = await inject('BOX');
    await openPart(page, boxed);
    await page.keyboard.press('D'); // marking on; the box is the first tool
    await expect.poll(() => page.textContent('#mark-toggle')).toContain('marking');
    // around the scratch of this generated part
    const from = await onScreen(page, 0.33, 0.12); // below the view controls, which lie over the top of the picture
    const to = await onScreen(page, 0.53, 0.46);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 3 });
    await page.mouse.move(to.x, to.y, { steps: 3 });
    await page.mouse.up();
    await expect.poll(() => page.textContent('#mark-toggle')).toContain('(1)');
    expect(await page.evaluate(() => (document.getElementById('stage') as HTMLElement).style.transform)).toContain(
      'translate(0px, 0px)',
    ); // marking did not pan
    await page.keyboard.press('1'); // scratch
    await screenshot(page, 'technician-marking', true);
    await page.keyboard.press('R');
    const decision = await stored(boxed);
    expect(decision).toMatchObject({ verdict: 'reject', user: 'mia', category: 'scratch' });
    expect(decision.region?.strokes).toBeUndefined();
    const [box] = decision.region?.boxes ?? [];
    expect(box.x).toBeCloseTo(0.33, 1);
    expect(box.y).toBeCloseTo(0.12, 1);
    expect(box.w).toBeCloseTo(0.2, 1);
    expect(box.h).toBeCloseTo(0.34, 1);
    await context.close();
  });

  it('marks with a finger on a touch screen: a brush stroke, sent with Reject', async () => {
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, hasTouch: true });
    const page = await context.newPage();
    await page.goto(new URL('/login', loupe.httpUrl).href);
    await page.fill('input[name=name]', 'mia');
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#link.online');
    brushed = await inject('TOUCH');
    await openPart(page, brushed, true);
    await page.tap('#mark-toggle');
    await page.tap('#mark-tool'); // box → brush
    await expect.poll(() => page.textContent('#mark-tool')).toBe('brush');
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { pointerTypes: string[] }).pointerTypes = seen;
      addEventListener('pointerdown', (event) => seen.push(event.pointerType), true);
    });
    // A finger's drag, as the touch screen sends it (page.touchscreen only taps).
    const cdp = await context.newCDPSession(page);
    const path = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => [0.2 + i * 0.05, 0.6] as const);
    const points = await Promise.all(path.map(([x, y]) => onScreen(page, x, y)));
    await cdp.send('Input.dispatchTouchEvent', {
      type: 'touchStart',
      touchPoints: [{ x: points[0].x, y: points[0].y }],
    });
    for (const p of points.slice(1))
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: p.x, y: p.y }] });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    await expect.poll(() => page.textContent('#mark-toggle')).toContain('(1)');
    expect(await page.evaluate(() => (window as unknown as { pointerTypes: string[] }).pointerTypes)).toContain(
      'touch',
    );
    await page.tap('#reject');
    const decision = await stored(brushed);
    expect(decision).toMatchObject({ verdict: 'reject', user: 'mia' });
    const [stroke] = decision.region?.strokes ?? [];
    expect(stroke.r).toBeGreaterThan(0);
    const xs = stroke.points.map(([x]) => x);
    expect(Math.min(...xs)).toBeCloseTo(0.2, 1);
    expect(Math.max(...xs)).toBeCloseTo(0.6, 1);
    for (const [, y] of stroke.points) expect(y).toBeCloseTo(0.6, 1);
    await context.close();
  });

  it("shows the marks in the part's defect-log timeline and on its picture", async () => {
    const manager = await person(loupe.httpUrl, 'max', 'manager');
    const entry = (await (await manager.get(`/api/log/${LINE}/${STATION}/${boxed}`)).json()) as {
      decision: { region?: Region };
      timeline: { kind: string; region?: Region }[];
    };
    expect(entry.decision.region?.boxes).toHaveLength(1);
    expect(entry.timeline.find((e) => e.kind === 'decision')?.region?.boxes).toHaveLength(1);
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'max', 'max-password-123');
    await page.goto(new URL(`/log#part=${encodeURIComponent(`${LINE}/${STATION}/${boxed}`)}`, loupe.httpUrl).href);
    await expect.poll(() => page.textContent('#timeline'), { timeout: 10_000 }).toContain('marked where: 1 box');
    // the marks are drawn over the picture: some of the overlay's pixels are coloured
    await page.waitForFunction(() => (document.getElementById('detail-image') as HTMLImageElement).naturalWidth > 0);
    const painted = await page.evaluate(() => {
      const canvas = document.querySelector('#detail-viewer canvas.mark-layer') as HTMLCanvasElement | null;
      if (!canvas) return 0;
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n / (canvas.width * canvas.height);
    });
    expect(painted).toBeGreaterThan(0.02);
    await screenshot(page, 'manager-log-marked', true);
    await context.close();
  });

  it('takes a marked reject over MQTT too, and refuses a region sent with accept', async () => {
    const marked = await inject('MQTT');
    const region: Region = {
      boxes: [{ x: 0.1, y: 0.1, w: 0.2, h: 0.2 }],
      strokes: [{ r: 0.02, points: [[0.7, 0.7]] }],
    };
    const decision: Decision = {
      schema: 'loupe/decision@1',
      partId: marked,
      decision: 'reject',
      user: 'plc-person',
      category: 'scratch',
      region,
    };
    await plc.client.publishAsync(`loupe/${LINE}/${STATION}/decision`, JSON.stringify(decision), { qos: 1 });
    expect((await stored(marked)).region).toEqual(region);
    // the decision sent and the log event published both match the published schema files
    const ajv = new Ajv2020({ strict: false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    const schemaFile = async (name: string) =>
      JSON.parse(await readFile(path.join(repoRoot, 'contract', 'schemas', `${name}.v1.json`), 'utf8')) as object;
    expect(ajv.validate(await schemaFile('decision'), decision), JSON.stringify(ajv.errors)).toBe(true);
    const logged = await plc.waitFor('the marked decision in the log', () =>
      plc.json<LogMessage>('/log').find((m) => m.event.kind === 'decision' && m.event.partId === marked),
    );
    expect(logged.event).toMatchObject({ region });
    expect(ajv.validate(await schemaFile('log'), logged), JSON.stringify(ajv.errors)).toBe(true);
    const accepted = await inject('MQTT');
    await plc.client.publishAsync(
      `loupe/${LINE}/${STATION}/decision`,
      JSON.stringify({ ...decision, partId: accepted, decision: 'accept', category: undefined }),
      { qos: 1 },
    );
    const refused = await plc.waitFor('the refusal', () =>
      plc.json<ErrorMessage>('/error').find((e) => e.partId === accepted),
    );
    expect(refused).toMatchObject({ code: 'invalid_payload' });
    expect(refused.message).toContain('reject only');
    const mia = await login(loupe.httpUrl, 'mia', password);
    const viaHttp = await mia.post(`/api/reviews/${LINE}/${STATION}/${accepted}/decision`, {
      decision: 'accept',
      region,
    });
    expect(viaHttp.status).toBe(400);
    const tooBig = await mia.post(`/api/reviews/${LINE}/${STATION}/${accepted}/decision`, {
      decision: 'reject',
      region: { boxes: [{ x: 2, y: 0, w: 0.1, h: 0.1 }] },
    });
    expect(tooBig.status).toBe(400);
  });

  it('exports the marks as ground_truth masks, and loupe eval scores the pixels of the exported set', async () => {
    const mia = await login(loupe.httpUrl, 'mia', password);
    for (let i = 0; i < 2; i++) {
      const partId = await inject('GOOD');
      expect(
        (await mia.post(`/api/reviews/${LINE}/${STATION}/${partId}/decision`, { decision: 'accept' })).status,
      ).toBe(202);
      await stored(partId);
    }
    const unmarked = await inject('PLAIN');
    expect(
      (
        await mia.post(`/api/reviews/${LINE}/${STATION}/${unmarked}/decision`, {
          decision: 'reject',
          category: 'scratch',
        })
      ).status,
    ).toBe(202);
    await stored(unmarked);
    const out = path.join(dir, 'exported');
    const exported = await runLoupe(['export', '--config', configFile, '--out', out]);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain('with a marked region, as a mask');
    const mask = path.join(out, 'ground_truth', 'scratch', `${boxed}_mask.png`);
    expect(existsSync(mask)).toBe(true);
    expect(existsSync(path.join(out, 'ground_truth', 'reject', `${brushed}_mask.png`))).toBe(true);
    expect(existsSync(path.join(out, 'ground_truth', 'scratch', `${unmarked}_mask.png`))).toBe(false);
    // the mask is the image's size, white inside the marked box and black outside
    const image = await sharp(path.join(out, 'test', 'scratch', `${boxed}.png`)).metadata();
    const { data, info } = await sharp(mask).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([image.width, image.height]);
    const at = (x: number, y: number) => data[Math.floor(y * info.height) * info.width + Math.floor(x * info.width)];
    expect(at(0.43, 0.26)).toBe(255);
    expect(at(0.1, 0.1)).toBe(0);
    expect(at(0.43, 0.6)).toBe(0);
    const evaluated = await runLoupe([
      'eval',
      '--model',
      path.join(repoRoot, 'models', 'default'),
      '--data',
      out,
      '--json',
    ]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const e = JSON.parse(evaluated.stdout) as { pixelAuroc: number | null; pixelNote?: string };
    expect(e.pixelAuroc).toBeGreaterThan(0);
    expect(e.pixelAuroc).toBeLessThanOrEqual(1);
    expect(e.pixelNote).toContain('3 of 4 defective images');
  }, 120_000);
});

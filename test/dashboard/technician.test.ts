/**
 * The technician's screen in Debian's Chromium, against `loupe start` (embedded broker): log in,
 * a borderline part appears the moment the edge opens it, `A` decides it, and a separate MQTT
 * client (the PLC) sees the human verdict with the person's name. Two people on one part; a
 * dropped feed; an ended session; a page without a session.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Review, VerdictMessage } from '../../contract/payloads.ts';
import { chromiumPath, launchChromium, loggedIn, screenshot } from '../support/browser.ts';
import { Collector } from '../support/collector.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart } from '../support/parts.ts';
import { ADMIN, login, person } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();

describe.skipIf(!chromium)('technician dashboard in Chromium', () => {
  let loupe: LoupeProcess;
  let plc: Collector;
  let browser: Browser;
  const passwords = new Map<string, string>();

  beforeAll(async () => {
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'models', 'default', 'manifest.json'), 'utf8')) as { thresholds: { passBelow: number; rejectAbove: number } };
    const dir = await tempDir('loupe-dash-');
    const { file } = await writeConfig(
      {
        line: 'line-d',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        // Every part injected here is defective and lands between the thresholds: all "borderline".
        stations: [{ id: 'cam-d', thresholds: { passBelow: manifest.thresholds.passBelow, rejectAbove: manifest.thresholds.rejectAbove * 12 }, audit: { share: 0 }, review: { deadlineSeconds: 600 } }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
    plc = await Collector.connect(loupe.mqttUrl, ['loupe/line-d/cam-d/#']);
    browser = await launchChromium(chromium as string);
    for (const name of ['ana', 'ben']) {
      await person(loupe.httpUrl, name);
      passwords.set(name, `${name}-password-123`);
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await plc?.close();
    await loupe?.stop();
  });

  let parts = 0;
  /** A part at the edge, as the line's camera would send it; resolves once its review is open. */
  async function inject(prefix: string): Promise<string> {
    const partId = `${prefix}-${++parts}`;
    const response = await fetch(new URL(`/api/stations/cam-d/frames?partId=${partId}`, loupe.httpUrl), { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(await defectivePart(parts, 'scratch', 'png')) });
    expect((await response.json()) as { verdict: string }).toMatchObject({ verdict: 'review' });
    await plc.waitFor(`review of ${partId}`, () => plc.json<Review>(`/review/${partId}`)[0]);
    return partId;
  }

  const item = (page: Page, partId: string) => page.locator(`#queue li[data-part="${partId}"]`);

  it('refuses the screen and the API without a session', async () => {
    const page = await fetch(loupe.httpUrl, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toMatch(/^\/login\?next=/);
    for (const route of ['/api/reviews', '/api/stations', '/api/results', '/app.js']) {
      const response = await fetch(new URL(route, loupe.httpUrl));
      expect(response.status, route).toBe(401);
    }
    const context = await browser.newContext();
    const tab = await context.newPage();
    await tab.goto(loupe.httpUrl);
    expect(new URL(tab.url()).pathname).toBe('/login');
    await context.close();
  });

  it('shows a new part at once, decides it with A, and the PLC sees the human verdict with the name', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const partId = await inject('KEY');
    await item(page, partId).waitFor({ timeout: 5000 });
    await expect.poll(() => page.textContent('#part-id')).toBe(partId);
    await page.waitForFunction(() => (document.getElementById('part-image') as HTMLImageElement).naturalWidth > 0);
    await page.waitForFunction(() => (document.getElementById('part-map') as HTMLImageElement).naturalWidth > 0);
    expect(await page.textContent('#stations')).toContain('cam-d: online · 1 to review');
    expect(await page.textContent('#scale')).toContain('pass below');
    await page.waitForTimeout(700); // let the new-part cue fade, for a screenshot people can read
    await screenshot(page, 'technician-part');
    await page.keyboard.press('A');
    const verdict = await plc.waitFor('human verdict', () => plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId));
    expect(verdict).toMatchObject({ verdict: 'pass', decidedBy: 'human', user: 'ana' });
    await item(page, partId).waitFor({ state: 'detached', timeout: 5000 });
    await context.close();
  });

  it('rejects with a category chosen by a number key', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const partId = await inject('CAT');
    await expect.poll(() => page.textContent('#part-id')).toBe(partId);
    await page.keyboard.press('1'); // the first category: scratch
    await expect.poll(() => page.textContent('.category.chosen')).toContain('scratch');
    await page.keyboard.press('R');
    const verdict = await plc.waitFor('reject verdict', () => plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId));
    expect(verdict).toMatchObject({ verdict: 'reject', decidedBy: 'human', user: 'ana', category: 'scratch' });
    await context.close();
  });

  it('shows the second person who holds a part, and does not let them decide it', async () => {
    const first = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const partId = await inject('TWO');
    await expect.poll(() => first.page.textContent('#part-id')).toBe(partId); // opening it claims it
    const second = await loggedIn(browser, loupe.httpUrl, 'ben', passwords.get('ben') as string);
    await item(second.page, partId).waitFor();
    await expect.poll(() => item(second.page, partId).textContent()).toContain('ana is deciding');
    await item(second.page, partId).click();
    await expect.poll(() => second.page.textContent('#part-claim')).toContain('ana is deciding this part');
    expect(await second.page.isDisabled('#accept')).toBe(true);
    await screenshot(second.page, 'technician-claimed');
    await second.page.keyboard.press('A');
    await expect.poll(() => second.page.textContent('#notice')).toContain('ana is deciding');
    // ana decides; the part leaves both screens
    await first.page.keyboard.press('A');
    await item(second.page, partId).waitFor({ state: 'detached', timeout: 5000 });
    await item(first.page, partId).waitFor({ state: 'detached', timeout: 5000 });
    const verdicts = plc.json<VerdictMessage>('/verdict').filter((v) => v.partId === partId);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]).toMatchObject({ user: 'ana' });
    await first.context.close();
    await second.context.close();
  });

  it('resynchronises after the feed drops: parts opened meanwhile appear once, none lost', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ben', passwords.get('ben') as string);
    // Close the page's WebSocket from the page itself and open parts before it reconnects.
    const dropped = await page.evaluate(() => {
      const socket = (window as unknown as { loupeSocket?: WebSocket }).loupeSocket;
      socket?.close();
      return Boolean(socket);
    });
    expect(dropped).toBe(true);
    const during = [await inject('GAP'), await inject('GAP')];
    await page.waitForSelector('#link.online');
    for (const partId of during) await item(page, partId).waitFor({ timeout: 5000 });
    for (const partId of during) expect(await item(page, partId).count()).toBe(1);
    // The queue is drawn item by item as it changes: each open part once, soonest deadline first.
    const shown = await page.$$eval('#queue li', (lis) => lis.map((li) => (li as HTMLElement).dataset.part as string));
    expect(new Set(shown).size).toBe(shown.length);
    expect(shown.indexOf(during[0])).toBeLessThan(shown.indexOf(during[1]));
    const deadlines = await page.$$eval('#queue li .countdown', (spans) => spans.map((span) => Date.parse((span as HTMLElement).dataset.deadline as string)));
    expect(deadlines).toEqual([...deadlines].sort((a, b) => a - b));
    await context.close();
  });

  it('tells a person whose session ended, and sends nothing', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ben', passwords.get('ben') as string);
    const partId = await inject('END');
    await item(page, partId).waitFor();
    // The same session ends elsewhere (log out in another tab of the same browser).
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'loupe_session');
    const csrf = await page.evaluate(async () => ((await (await fetch('/api/session')).json()) as { csrf: string }).csrf);
    const out = await fetch(new URL('/api/logout', loupe.httpUrl), { method: 'POST', headers: { cookie: `loupe_session=${session?.value}`, 'x-csrf-token': csrf } });
    expect(out.status).toBe(200);
    await item(page, partId).click();
    await page.keyboard.press('A');
    await expect.poll(() => page.textContent('#notice'), { timeout: 5000 }).toMatch(/log in/i);
    // The WebSocket's close and the refused decision may each send the page to login; the first
    // navigation can be aborted by the second, so the test waits for where the page ends up.
    await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/\/login/);
    const admin = await login(loupe.httpUrl, ADMIN.name, ADMIN.password);
    const open = (await (await admin.get('/api/reviews')).json()) as Review[];
    expect(open.map((r) => r.partId)).toContain(partId); // nothing was decided
    await context.close();
  });
});

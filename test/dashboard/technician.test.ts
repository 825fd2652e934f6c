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
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { chromiumPath, launchChromium, loggedIn, loggedInAt, screenshot } from '../support/browser.ts';
import { Collector } from '../support/collector.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart } from '../support/parts.ts';
import { ADMIN, login, person } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

/** Waits for what the browser shows; generous, as Chromium and the product share two busy cores. */
const poll = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 10_000 });

const chromium = chromiumPath();

describe.skipIf(!chromium)('technician dashboard in Chromium', () => {
  let loupe: LoupeProcess;
  let plc: Collector;
  let browser: Browser;
  const passwords = new Map<string, string>();

  beforeAll(async () => {
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'models', 'default', 'manifest.json'), 'utf8')) as {
      thresholds: { passBelow: number; rejectAbove: number };
    };
    const dir = await tempDir('loupe-dash-');
    const { file } = await writeConfig(
      {
        line: 'line-d',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        // Every part injected here is defective and lands between the thresholds: all "borderline".
        stations: [
          {
            id: 'cam-d',
            thresholds: { passBelow: manifest.thresholds.passBelow, rejectAbove: manifest.thresholds.rejectAbove * 12 },
            audit: { share: 0 },
            review: { deadlineSeconds: 600 },
            // The station's own retained status comes only on a change, not every 10 s: the offline test
            // below publishes the broker's last will, and a heartbeat in between would bring it back.
            statusIntervalSeconds: 3600,
          },
        ],
        // A decision waits two seconds on screen (undoable) before it goes: long enough for U, short for the tests.
        dashboard: { undoSeconds: 2 },
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
    const response = await fetch(new URL(`/api/stations/cam-d/frames?partId=${partId}`, loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(await defectivePart(parts, 'scratch', 'png')),
    });
    expect((await response.json()) as { verdict: string }).toMatchObject({ verdict: 'review' });
    await plc.waitFor(`review of ${partId}`, () => plc.json<Review>(`/review/${partId}`)[0]);
    return partId;
  }

  const item = (page: Page, partId: string) => page.locator(`#queue li[data-part="${partId}"]`);
  /** Opens a part as a person does (a tap on its queue item) and waits until the keys act on it. */
  async function openPart(page: Page, partId: string): Promise<void> {
    await item(page, partId).click();
    await poll(() => page.textContent('#part-id')).toBe(partId);
    await page.waitForSelector('#accept:not([disabled])');
  }

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
    await item(page, partId).locator('.thumb img').waitFor(); // the queue item shows the part's picture
    await openPart(page, partId);
    await page.waitForFunction(() => (document.getElementById('part-image') as HTMLImageElement).naturalWidth > 0);
    await page.waitForFunction(() => (document.getElementById('part-map') as HTMLImageElement).naturalWidth > 0);
    expect(await page.textContent('#stations')).toContain('cam-d: online · 1 to review');
    expect(await page.textContent('#scale')).toContain('pass below');
    expect(await page.textContent('#part-reasons')).toContain('the score is between pass and reject'); // words, not borderline
    await page.keyboard.press('A');
    const verdict = await plc.waitFor('human verdict', () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId),
    );
    expect(verdict).toMatchObject({ verdict: 'pass', decidedBy: 'human', user: 'ana' });
    await item(page, partId).waitFor({ state: 'detached', timeout: 5000 });
    await context.close();
  });

  it('rejects with a category chosen by a number key', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const partId = await inject('CAT');
    await openPart(page, partId);
    await page.keyboard.press('1'); // the first category: scratch
    await poll(() => page.textContent('.category.chosen')).toContain('scratch');
    await page.keyboard.press('R');
    const verdict = await plc.waitFor('reject verdict', () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId),
    );
    expect(verdict).toMatchObject({ verdict: 'reject', decidedBy: 'human', user: 'ana', category: 'scratch' });
    await context.close();
  });

  it('shows the second person who holds a part, and does not let them decide it', async () => {
    const first = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const partId = await inject('TWO');
    await openPart(first.page, partId); // opening it claims it
    const second = await loggedIn(browser, loupe.httpUrl, 'ben', passwords.get('ben') as string);
    await item(second.page, partId).waitFor();
    await poll(() => item(second.page, partId).textContent()).toContain('ana is deciding');
    await item(second.page, partId).click();
    await poll(() => second.page.textContent('#part-claim')).toContain('ana is deciding this part');
    expect(await second.page.isDisabled('#accept')).toBe(true);
    await screenshot(second.page, 'technician-claimed');
    await second.page.keyboard.press('A');
    await poll(() => second.page.textContent('#notice')).toContain('ana is deciding');
    // ana decides; the part leaves both screens
    await first.page.waitForSelector('#accept:not([disabled])');
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
    const deadlines = await page.$$eval('#queue li .countdown', (spans) =>
      spans.map((span) => Date.parse((span as HTMLElement).dataset.deadline as string)),
    );
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
    const csrf = await page.evaluate(
      async () => ((await (await fetch('/api/session')).json()) as { csrf: string }).csrf,
    );
    const out = await fetch(new URL('/api/logout', loupe.httpUrl), {
      method: 'POST',
      headers: { cookie: `loupe_session=${session?.value}`, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(200);
    await item(page, partId).click();
    await page.waitForSelector('#accept:not([disabled])');
    await page.keyboard.press('A');
    await expect.poll(() => page.textContent('#notice'), { timeout: 10_000 }).toMatch(/log in/i);
    // The WebSocket's close and the refused decision may each send the page to login; the first
    // navigation can be aborted by the second, so the test waits for where the page ends up.
    await expect.poll(() => page.url(), { timeout: 10_000 }).toMatch(/\/login/);
    const admin = await login(loupe.httpUrl, ADMIN.name, ADMIN.password);
    const open = (await (await admin.get('/api/reviews')).json()) as Review[];
    expect(open.map((r) => r.partId)).toContain(partId); // nothing was decided
    await context.close();
  });

  it('claims a part when a person opens it, not when the page loads, and shows at once when the claim is lost', async () => {
    const partId = await inject('OPEN');
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    await item(page, partId).waitFor();
    expect(await page.isVisible('#part-empty')).toBe(true); // nothing opened by loading the page
    const ben = await login(loupe.httpUrl, 'ben', passwords.get('ben') as string);
    const claimUrl = `/api/reviews/line-d/cam-d/${partId}/claim`;
    expect((await ben.post(claimUrl)).status).toBe(200); // free: the page load claimed nothing
    expect(
      (
        await fetch(new URL(claimUrl, loupe.httpUrl), {
          method: 'DELETE',
          headers: { cookie: ben.cookie, 'x-csrf-token': ben.csrf },
        })
      ).status,
    ).toBe(200);
    await openPart(page, partId);
    const refused = await ben.post(claimUrl);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ holder: 'ana' });
    // ana's claim ends (as if it ran out) and ben takes the part: ana's screen says so at once
    const cookie = (await context.cookies()).find((c) => c.name === 'loupe_session');
    const csrf = await page.evaluate(
      async () => ((await (await fetch('/api/session')).json()) as { csrf: string }).csrf,
    );
    await fetch(new URL(claimUrl, loupe.httpUrl), {
      method: 'DELETE',
      headers: { cookie: `loupe_session=${cookie?.value}`, 'x-csrf-token': csrf },
    });
    expect((await ben.post(claimUrl)).status).toBe(200);
    await poll(() => page.textContent('#part-state')).toContain('You lost this part: ben is deciding it now');
    expect(await page.isDisabled('#accept')).toBe(true);
    await context.close();
  });

  it('guards a double press: two quick presses of A decide one part, never two', async () => {
    const [first, second] = [await inject('DBL'), await inject('DBL')];
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    await openPart(page, first);
    await page.keyboard.press('A');
    await page.keyboard.press('A'); // lands on the next part while its guard is on: ignored
    await poll(() => page.textContent('#part-id')).toBe(second);
    expect(await page.textContent('#undo-bar')).toContain(`${first} accepted`);
    await plc.waitFor('the first verdict', () => plc.json<VerdictMessage>('/verdict').find((v) => v.partId === first));
    const admin = await login(loupe.httpUrl);
    const open = (await (await admin.get('/api/reviews')).json()) as Review[];
    expect(open.map((r) => r.partId)).toContain(second);
    expect(plc.json<VerdictMessage>('/verdict').filter((v) => v.partId === second)).toEqual([]);
    // once the guard is over, the key acts on the part shown
    await page.waitForSelector('#accept:not([disabled])');
    await page.keyboard.press('R');
    expect(
      await plc.waitFor('the second verdict', () =>
        plc.json<VerdictMessage>('/verdict').find((v) => v.partId === second),
      ),
    ).toMatchObject({ verdict: 'reject', user: 'ana' });
    await context.close();
  });

  it('undoes the last decision with U (or Ctrl+Z) before it is sent: nothing goes out', async () => {
    const partId = await inject('UNDO');
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    await openPart(page, partId);
    await page.keyboard.press('A');
    await page.waitForSelector('#undo-bar:not([hidden])');
    await screenshot(page, 'technician-undo', true);
    await page.keyboard.press('U');
    await poll(() => page.textContent('#notice')).toContain(`Undone: ${partId} is back, and nothing was sent`);
    expect(await page.textContent('#part-id')).toBe(partId);
    await page.waitForSelector('#accept:not([disabled])');
    await page.keyboard.press('A');
    await page.keyboard.press('Control+z');
    await poll(() => page.textContent('#notice')).toContain('Undone');
    await page.waitForSelector('#accept:not([disabled])');
    await page.keyboard.press('R');
    // the two accepts never left the screen: the one verdict is the reject
    const verdict = await plc.waitFor('the verdict', () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId),
    );
    expect(verdict).toMatchObject({ verdict: 'reject', decidedBy: 'human', user: 'ana' });
    await page.waitForSelector('#undo-bar', { state: 'hidden' });
    expect(plc.json<VerdictMessage>('/verdict').filter((v) => v.partId === partId)).toHaveLength(1);
    await context.close();
  });

  it('corrects a decision already sent: the PLC gets a corrected verdict and the log keeps both', async () => {
    const partId = await inject('FIX');
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    await openPart(page, partId);
    await page.keyboard.press('A');
    await plc.waitFor('the accept', () => plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId));
    await page.waitForSelector('#undo-bar', { state: 'hidden' });
    await page.keyboard.press('U');
    await poll(() => page.textContent('#part-state')).toContain(`${partId} was sent as accepted`);
    await page.waitForSelector('#reject:not([disabled])');
    await page.keyboard.press('2'); // dent
    await page.keyboard.press('R');
    const corrected = await plc.waitFor('the corrected verdict', () =>
      plc.json<VerdictMessage>('/verdict').find((v) => v.partId === partId && v.corrects),
    );
    expect(corrected).toMatchObject({
      verdict: 'reject',
      category: 'dent',
      decidedBy: 'human',
      user: 'ana',
      corrects: { verdict: 'pass', decidedBy: 'human', user: 'ana' },
    });
    const schema = JSON.parse(
      await readFile(path.join(repoRoot, 'contract', 'schemas', 'verdict.v1.json'), 'utf8'),
    ) as object;
    const ajv = new Ajv2020({ strict: false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    expect(ajv.validate(schema, corrected), JSON.stringify(ajv.errors)).toBe(true);
    const manager = await person(loupe.httpUrl, 'mona', 'manager');
    const entry = (await (await manager.get(`/api/log/line-d/cam-d/${partId}`)).json()) as {
      final: { verdict: string };
      timeline: { kind: string; correction?: boolean; corrects?: object }[];
    };
    expect(entry.final).toMatchObject({ verdict: 'reject' });
    expect(entry.timeline.filter((e) => e.kind === 'decision').map((e) => Boolean(e.correction))).toEqual([
      false,
      true,
    ]);
    expect(entry.timeline.filter((e) => e.kind === 'verdict').map((e) => Boolean(e.corrects))).toEqual([false, true]);
    // another technician may not correct ana's decision
    const ben = await login(loupe.httpUrl, 'ben', passwords.get('ben') as string);
    const refused = await ben.post(`/api/parts/line-d/cam-d/${partId}/correction`, { decision: 'accept' });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ message: expect.stringContaining('decided by ana') });
    await context.close();
  });

  it('turns the station grey and turns decisions off while the station or the feed is gone', async () => {
    const partId = await inject('GONE');
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    await openPart(page, partId);
    // the station vanishes: the broker publishes its last will (here sent as the broker would)
    const offline = {
      schema: 'loupe/status@1',
      line: 'line-d',
      station: 'cam-d',
      state: 'offline',
      at: new Date().toISOString(),
    };
    await plc.client.publishAsync('loupe/line-d/cam-d/status', JSON.stringify(offline), { qos: 1, retain: true });
    await page.waitForSelector('#stations li[data-state="gone"]');
    expect(await page.isDisabled('#accept')).toBe(true);
    expect(await page.textContent('#part-state')).toContain('cam-d is offline');
    await screenshot(page, 'technician-offline', true);
    await page.keyboard.press('A');
    await poll(() => page.textContent('#notice')).toContain('cam-d is offline');
    // the station's next status brings it back
    const online = { ...offline, state: 'online', at: new Date().toISOString() };
    await plc.client.publishAsync('loupe/line-d/cam-d/status', JSON.stringify(online), { qos: 1, retain: true });
    await page.waitForSelector('#stations li[data-state="online"]');
    await page.waitForSelector('#accept:not([disabled])');
    // the feed drops and cannot come back: grey again, decisions off, until it is back
    let refused = true;
    await page.routeWebSocket(/\/ws$/, (ws) => (refused ? ws.close() : ws.connectToServer()));
    await page.evaluate(() => (window as unknown as { loupeSocket: WebSocket }).loupeSocket.close());
    await page.waitForSelector('#link.off');
    await page.waitForSelector('#stations li[data-state="gone"]');
    expect(await page.isDisabled('#accept')).toBe(true);
    expect(await page.textContent('#part-state')).toContain('live feed is down');
    refused = false;
    await page.waitForSelector('#link.online', { timeout: 10_000 });
    await page.waitForSelector('#accept:not([disabled])');
    expect(plc.json<VerdictMessage>('/verdict').filter((v) => v.partId === partId)).toEqual([]);
    await context.close();
  });

  it('fits a line-side screen at 1024x768 and a phone at 390 wide, with a placeholder for a part without a picture', async () => {
    const partId = await inject('SHOW');
    const broken = `NOPIC-${++parts}`;
    const posted = await fetch(new URL(`/api/stations/cam-d/frames?partId=${broken}`, loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: 'not an image',
    });
    expect(await posted.json()).toMatchObject({ verdict: 'review', reasons: ['unreadable_image'] });
    for (const viewport of [
      { width: 1024, height: 768 },
      { width: 390, height: 844 },
    ]) {
      const { context, page } = await loggedInAt(
        browser,
        loupe.httpUrl,
        'ana',
        passwords.get('ana') as string,
        viewport,
      );
      await item(page, broken).waitFor();
      await openPart(page, partId);
      await page.waitForFunction(() => (document.getElementById('part-map') as HTMLImageElement).naturalWidth > 0);
      await page.evaluate(() => new Promise(requestAnimationFrame));
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `horizontal overflow at ${viewport.width}`).toBe(0);
      if (viewport.width === 1024) {
        // the picture, the score, why, and both buttons inside the first screen, with no scrolling
        for (const selector of ['#viewer', '#scale', '#part-reasons', '#accept', '#reject']) {
          const box = await page.locator(selector).boundingBox();
          expect(
            box && box.y >= 0 && box.y + box.height <= viewport.height,
            `${selector} within 1024x768: ${JSON.stringify(box)}`,
          ).toBe(true);
        }
        const size = await page.$eval('#part-reasons', (node) => parseFloat(getComputedStyle(node).fontSize));
        expect(size).toBeGreaterThanOrEqual(18); // readable at arm's length
      }
      await screenshot(page, viewport.width === 1024 ? 'technician-1024' : 'technician-390', true);
      await openPart(page, broken);
      await page.waitForSelector('#no-picture:not([hidden])');
      expect(await page.textContent('#no-picture')).toContain('The image could not be read');
      expect(await page.textContent('#part-reasons')).toContain('the image could not be read');
      if (viewport.width === 1024) await screenshot(page, 'technician-no-picture', true);
      await context.close();
    }
    // no emoji anywhere on the screen: icons are inline SVG
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const text = await page.textContent('body');
    expect(text).not.toMatch(/\p{Extended_Pictographic}/u);
    await context.close();
  });

  it('shows a technician who opens a manager page a page that says so, not JSON', async () => {
    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'ana', passwords.get('ana') as string);
    const response = await page.goto(new URL('/log', loupe.httpUrl).href);
    expect(response?.status()).toBe(403);
    expect(await page.textContent('body')).toContain('This page is for managers');
    expect(await page.textContent('body')).toContain('ana');
    await page.click('text=Back to the review queue');
    await page.waitForSelector('#link.online');
    await context.close();
  });
});

/**
 * Shadow models through the real product and Debian's Chromium: `loupe start` with a station whose
 * live model was fitted on a few good parts, a manager attaches the shipped model (fitted on many)
 * in shadow, parts come (every pass audited) and people decide the ones they are asked about; the tallies survive a
 * SIGKILL; the manager reads them side by side on the models page and promotes the candidate, which
 * then scores the next part and shows in the lineage.
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import { ShadowSchema, type ShadowView } from '../../edge/src/review/shadow.ts';
import { writeSyntheticDataset } from '../../lab/dataset.ts';
import { fit } from '../../lab/fit.ts';
import { chromiumPath, launchChromium, loggedIn, screenshot } from '../support/browser.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { person, type Client } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const chromium = chromiumPath();

describe.skipIf(!chromium)('shadow models on the manager pages', () => {
  let loupe: LoupeProcess;
  let browser: Browser;
  let maria: Client;
  let tina: Client;
  let config: string;
  let candidate: string;
  const running: LoupeProcess[] = [];

  const post = async (partId: string, body: Buffer) => {
    const response = await fetch(new URL(`/api/stations/cam-s/frames?partId=${partId}`, loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(body),
    });
    return (await response.json()) as Result;
  };
  const shadow = async () => {
    const response = await maria.get('/api/stations/cam-s/shadow');
    expect(response.status).toBe(200);
    const view = (await response.json()) as ShadowView;
    const checked = checkPayload(ShadowSchema, view);
    expect(checked.ok, checked.ok ? '' : checked.message).toBe(true);
    return view;
  };

  beforeAll(async () => {
    const dir = await tempDir('loupe-models-');
    // The live model: fitted on 8 good parts. The candidate: a copy of the shipped model (160).
    await writeSyntheticDataset({ out: path.join(dir, 'few'), seed: 3, count: 8, categories: ['bracket'] });
    await fit({
      data: path.join(dir, 'few', 'bracket'),
      out: path.join(dir, 'live'),
      id: 'bracket',
      version: '1',
      method: 'aligned',
    });
    candidate = path.join(dir, 'candidate');
    await cp(path.join(repoRoot, 'models', 'default'), candidate, { recursive: true });
    ({ file: config } = await writeConfig(
      {
        line: 'line-s',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        stations: [
          { id: 'cam-s', model: path.join(dir, 'live'), audit: { share: 1 }, review: { deadlineSeconds: 600 } },
        ],
      },
      dir,
    ));
    loupe = await startLoupe('start', ['--config', config]);
    running.push(loupe);
    browser = await launchChromium(chromium as string);
    maria = await person(loupe.httpUrl, 'maria', 'manager');
    tina = await person(loupe.httpUrl, 'tina');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const process of running) await process.stop();
  });

  it('is for managers: a technician is refused the page and the routes', async () => {
    expect((await tina.get('/models')).status).toBe(403);
    expect((await tina.get('/api/stations/cam-s/shadow')).status).toBe(403);
    expect((await tina.post('/api/stations/cam-s/shadow', { model: candidate })).status).toBe(403);
  });

  it('tallies a candidate in shadow on the parts people decide, keeps them across a SIGKILL, and promotes it from the models page', async () => {
    const attached = await maria.post('/api/stations/cam-s/shadow', { model: candidate });
    expect(attached.status, await attached.clone().text()).toBe(201);
    const parts = [
      ...Array.from({ length: 10 }, (_, i) => ({ id: `G-${i}`, defect: null })),
      ...Array.from({ length: 4 }, (_, i) => ({ id: `D-${i}`, defect: ['scratch', 'crack', 'spot', 'missing'][i] })),
    ];
    for (const [i, part] of parts.entries()) {
      const result = await post(
        part.id,
        part.defect ? await defectivePart(i, part.defect, 'png') : await goodPart(i, 'png'),
      );
      if (result.verdict !== 'review') continue;
      // The technician decides from the truth; the dashboard learns of the review from the broker first.
      for (let attempt = 0; ; attempt++) {
        const decided = await tina.post(`/api/reviews/line-s/cam-s/${part.id}/decision`, {
          decision: part.defect ? 'reject' : 'accept',
          ...(part.defect ? { category: part.defect } : {}),
        });
        if (decided.status === 202) break;
        expect(decided.status).toBe(404);
        expect(attempt).toBeLessThan(50);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let before: ShadowView;
    for (let attempt = 0; ; attempt++) {
      before = await shadow();
      if (before.frames.scored + before.frames.skipped >= parts.length) break;
      expect(attempt, JSON.stringify(before.frames)).toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(before.candidate).toMatchObject({
      model: { id: 'default', version: '1' },
      attachedBy: 'maria',
      state: 'scoring',
      goodImages: 160,
    });
    expect(before.live).toMatchObject({ model: { id: 'bracket', version: '1' }, goodImages: 6 });
    expect(before.tallies?.scored).toBe(before.frames.scored);
    // Every part the live model passed was audited, and people decided those and the borderline ones.
    expect(before.tallies?.audits).toBeGreaterThan(0);
    expect(before.tallies?.decided).toBe((before.tallies?.audits ?? 0) + (before.tallies?.live.reviews ?? 0));

    // SIGKILL: the candidate is loaded again and the tallies are what they were.
    expect(await loupe.stop('SIGKILL')).toBeNull();
    running.splice(running.indexOf(loupe), 1); // gone: nothing to stop after the test
    loupe = await startLoupe('start', ['--config', config]);
    running.push(loupe);
    maria = await person(loupe.httpUrl, 'maria2', 'manager');
    const after = await shadow();
    expect(after.tallies).toEqual(before.tallies);
    expect(after.frames).toEqual(before.frames);
    expect(after.candidate?.state).toBe('scoring');

    const { context, page } = await loggedIn(browser, loupe.httpUrl, 'maria2', 'maria2-password-123');
    await page.click('nav a[href="/models"]');
    await page.waitForSelector('section[data-station="cam-s"] table.tallies');
    const escapes = page.locator('table.tallies tr[data-row="escapes"] td');
    expect(await escapes.nth(0).textContent()).toBe(String(before.tallies?.live.escapes));
    expect(
      await page.locator('table.tallies tr[data-row="reviewRate"] td').nth(1).getAttribute('data-verdict'),
    ).toMatch(/better|worse|same/);
    await screenshot(page, 'models-shadow', true);

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('button.promote');
    await page.waitForSelector('table.promotions tbody tr');
    expect(await page.locator('#notice').textContent()).toContain('default v1 is now the live model of cam-s');
    expect(await page.locator('table.promotions tbody tr td').nth(2).textContent()).toBe('default v1');
    await context.close();

    const promoted = await shadow();
    expect(promoted.candidate).toBeNull();
    expect(promoted.live).toMatchObject({ model: { id: 'default', version: '1' }, dir: candidate });
    expect(promoted.promotions).toHaveLength(1);
    expect(promoted.promotions[0]).toMatchObject({
      by: 'maria2',
      replaced: { id: 'bracket', version: '1' },
      evidence: before.tallies,
    });
    expect((promoted.live.lineage as { promotions: unknown[] }).promotions).toHaveLength(1);
    // The next part is scored by the promoted model.
    expect((await post('AFTER-1', await goodPart(20, 'png'))).model).toEqual({ id: 'default', version: '1' });
  }, 90_000);
});

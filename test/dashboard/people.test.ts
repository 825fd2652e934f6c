/**
 * Admin access can always be recovered: `loupe people` (list, add, set-password, remove) on the
 * data folder of a running Loupe, the admins' People page in Chromium, a warning when
 * LOUPE_ADMIN_PASSWORD is ignored, and no first admin left behind by a start that failed.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, loggedInAt, screenshot } from '../support/browser.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { ADMIN, login } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

/** `loupe people ARGS` with `input` on stdin, as an operator pipes a password in. */
function people(args: string[], input = ''): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'loupe.js'), 'people', ...args], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += String(c)));
    child.stderr.on('data', (c) => (out += String(c)));
    child.on('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

async function product(port = 0): Promise<{ file: string }> {
  const dir = await tempDir('loupe-people-');
  return writeConfig(
    {
      line: 'line-p',
      dataDir: path.join(dir, 'data'),
      mqtt: { port: await freePort() },
      http: { port },
      stations: [{ id: 'cam-p' }],
    },
    dir,
  );
}

describe('loupe people', () => {
  let loupe: LoupeProcess;
  let file: string;
  beforeAll(async () => {
    ({ file } = await product());
    loupe = await startLoupe('start', ['--config', file]);
  }, 60_000);
  afterAll(() => loupe?.stop());

  it('sets a lost admin password while Loupe runs: the new one works at once, the old one and its sessions end', async () => {
    const before = await login(loupe.httpUrl);
    const set = await people(['set-password', ADMIN.name, '--config', file], 'a-brand-new-password\n');
    expect(set, set.out).toMatchObject({ code: 0 });
    expect(set.out).toContain(`password of ${ADMIN.name} set`);
    expect((await before.get('/api/session')).status).toBe(401);
    const old = await fetch(new URL('/api/login', loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ADMIN),
    });
    expect(old.status).toBe(401);
    const admin = await login(loupe.httpUrl, ADMIN.name, 'a-brand-new-password');
    expect((await admin.get('/api/people')).status).toBe(200);
    // back as it was, for the other tests
    expect((await people(['set-password', ADMIN.name, '--config', file], `${ADMIN.password}\n`)).code).toBe(0);
  });

  it('adds, lists and removes people, refuses a short password, and never removes the last admin', async () => {
    expect((await people(['add', 'rita', '--role', 'manager', '--config', file], 'rita-password-1\n')).code).toBe(0);
    const short = await people(['add', 'sam', '--config', file], 'short\n');
    expect(short.code).toBe(1);
    expect(short.out).toContain('at least 10 characters');
    const listed = await people(['list', '--config', file]);
    expect(listed.out).toMatch(/admin\s+admin/);
    expect(listed.out).toMatch(/rita\s+manager/);
    expect(listed.out).not.toContain('sam');
    const rita = await login(loupe.httpUrl, 'rita', 'rita-password-1'); // the running dashboard sees the CLI's person
    expect((await rita.get('/api/log')).status).toBe(200);
    expect((await people(['remove', 'rita', '--config', file])).code).toBe(0);
    expect((await rita.get('/api/session')).status).toBe(401);
    const last = await people(['remove', ADMIN.name, '--config', file]);
    expect(last.code).toBe(1);
    expect(last.out).toContain('last admin');
    const unknown = await people(['set-password', 'nobody', '--config', file], 'whatever-password\n');
    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain('no person called "nobody"');
  });

  it('warns that LOUPE_ADMIN_PASSWORD is ignored once people exist', async () => {
    await loupe.stop();
    loupe = await startLoupe('start', ['--config', file]);
    expect(loupe.logs.join('\n')).toContain('LOUPE_ADMIN_PASSWORD is ignored');
    expect(loupe.logs.join('\n')).toContain('loupe people set-password');
  });
});

describe('the first admin', () => {
  it('is created only after a successful start', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const { file } = await product(port);
    await expect(startLoupe('start', ['--config', file], { LOUPE_ADMIN_PASSWORD: '' })).rejects.toThrow(/exited/);
    busy.close();
    const listed = await people(['list', '--config', file]);
    expect(listed.out).toContain('nobody is registered yet');
    const loupe = await startLoupe('start', ['--config', file], { LOUPE_ADMIN_PASSWORD: '' });
    await expect.poll(() => loupe.logs.join('\n'), { timeout: 10_000 }).toMatch(/admin "admin" created with password/);
    await loupe.stop();
  }, 60_000);
});

const chromium = chromiumPath();

describe.skipIf(!chromium)('the People page', () => {
  let loupe: LoupeProcess;
  let browser: Browser;
  beforeAll(async () => {
    const { file } = await product();
    loupe = await startLoupe('start', ['--config', file]);
    browser = await launchChromium(chromium as string);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await loupe?.stop();
  });

  it('lets an admin add a person, set their password and remove them; a technician gets a page saying it is for admins', async () => {
    const { context, page } = await loggedInAt(browser, loupe.httpUrl, ADMIN.name, ADMIN.password, {
      width: 1024,
      height: 768,
    });
    await page.click('#people-nav');
    await page.waitForSelector('#people tr[data-person="admin"]');
    await page.fill('#add input[name=name]', 'pia');
    await page.selectOption('#add select[name=role]', 'technician');
    await page.fill('#add input[name=password]', 'pia-first-password');
    await page.click('#add button[type=submit]');
    await page.waitForSelector('#people tr[data-person="pia"]');
    await page.fill('#people tr[data-person="pia"] input', 'pia-second-password');
    await page.click('#people tr[data-person="pia"] button:has-text("set password")');
    await expect.poll(() => page.textContent('#notice'), { timeout: 10_000 }).toContain('Password of pia set');
    await screenshot(page, 'people', true);
    expect(await page.isDisabled('#people tr[data-person="admin"] button:has-text("remove")')).toBe(true); // not oneself

    const pia = await loggedInAt(browser, loupe.httpUrl, 'pia', 'pia-second-password', { width: 1024, height: 768 });
    const refused = await pia.page.goto(new URL('/people', loupe.httpUrl).href);
    expect(refused?.status()).toBe(403);
    expect(await pia.page.textContent('body')).toContain('This page is for admins');

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#people tr[data-person="pia"] button:has-text("remove")');
    await page.waitForSelector('#people tr[data-person="pia"]', { state: 'detached' });
    await pia.page.goto(loupe.httpUrl);
    await pia.page.waitForURL(/\/login/);
    await pia.context.close();
    await context.close();
  });
});

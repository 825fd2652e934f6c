/**
 * People and access on the real server: scrypt-hashed passwords, roles, CSRF, security headers,
 * logout, login throttling, and a first admin whose password is never a built-in default.
 */
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { ADMIN, login, person } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

async function product(): Promise<{ file: string; dataDir: string }> {
  const dir = await tempDir('loupe-access-');
  const dataDir = path.join(dir, 'data');
  const { file } = await writeConfig(
    { line: 'line-a', dataDir, mqtt: { port: await freePort() }, http: { port: 0 }, stations: [{ id: 'cam-a' }] },
    dir,
  );
  return { file, dataDir };
}

describe('people and access', () => {
  let loupe: LoupeProcess;
  let dataDir: string;
  beforeAll(async () => {
    const made = await product();
    dataDir = made.dataDir;
    loupe = await startLoupe('start', ['--config', made.file]);
  });
  afterAll(() => loupe?.stop());

  it('keeps passwords only as scrypt hashes', async () => {
    await person(loupe.httpUrl, 'cleo');
    const stored = await readFile(path.join(dataDir, 'dashboard', 'people.json'), 'utf8');
    expect(stored).not.toContain(ADMIN.password);
    expect(stored).not.toContain('cleo-password-123');
    expect(stored).toMatch(/"password": "scrypt\$32768\$8\$1\$/);
  });

  it('keeps password hashes and session ids in files only their owner can read', async () => {
    await login(loupe.httpUrl, 'cleo', 'cleo-password-123');
    for (const file of ['people.json', 'sessions.json', 'cookie-secret']) {
      expect((await stat(path.join(dataDir, 'dashboard', file))).mode & 0o777, file).toBe(0o600);
    }
    expect((await stat(path.join(dataDir, 'dashboard'))).mode & 0o077).toBe(0);
  });

  it('refuses a wrong password, then holds back that source after five failures, even with the right password', async () => {
    await person(loupe.httpUrl, 'fay');
    const attempt = (password: string) =>
      fetch(new URL('/api/login', loupe.httpUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'fay', password }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await attempt('not-the-password')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const locked = await attempt('fay-password-123');
    expect(locked.status).toBe(429);
    expect(await locked.json()).toMatchObject({ error: 'locked' });
  });

  it('gives each role its own rights', async () => {
    const tech = await person(loupe.httpUrl, 'dan');
    expect((await tech.get('/api/reviews')).status).toBe(200);
    expect((await tech.get('/api/people')).status).toBe(403);
    expect((await tech.get('/api/stations/cam-a/calibration')).status).toBe(403);
    expect((await tech.post('/api/stations/cam-a/thresholds', { passBelow: 1, rejectAbove: 2 })).status).toBe(403);
    const manager = await person(loupe.httpUrl, 'maya', 'manager');
    expect((await manager.get('/api/stations/cam-a/calibration')).status).toBe(200);
    expect(
      (await manager.post('/api/people', { name: 'eve', role: 'admin', password: 'eve-password-123' })).status,
    ).toBe(403);
    const body = await (await tech.get('/api/people')).json();
    expect(body).toMatchObject({ error: 'forbidden', message: 'this needs the admin role; dan is technician' });
  });

  it('refuses a state change without the CSRF token or from another origin', async () => {
    const tech = await login(loupe.httpUrl);
    const url = new URL('/api/reviews/line-a/cam-a/P-1/claim', loupe.httpUrl);
    const noToken = await fetch(url, { method: 'POST', headers: { cookie: tech.cookie } });
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ error: 'csrf' });
    const foreign = await fetch(url, {
      method: 'POST',
      headers: { cookie: tech.cookie, 'x-csrf-token': tech.csrf, origin: 'http://evil.example' },
    });
    expect(foreign.status).toBe(403);
    const ours = await tech.post('/api/reviews/line-a/cam-a/P-1/claim');
    expect(ours.status).toBe(404); // allowed through, and the unknown part is named
    expect(await ours.json()).toMatchObject({ error: 'unknown_part' });
  });

  it('sends security headers and a signed HttpOnly SameSite=Strict cookie', async () => {
    const response = await fetch(new URL('/api/login', loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cleo', password: 'cleo-password-123' }),
    });
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^loupe_session=[^;]+\.[^;]+;/); // value.signature
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const forged = await fetch(new URL('/api/session', loupe.httpUrl), {
      headers: { cookie: cookie.split(';')[0].replace(/\.[^.]+$/, '.forged') },
    });
    expect(forged.status).toBe(401);
  });

  it('refuses the live feed (WebSocket upgrade) without a session, and opens it with one', async () => {
    const upgrade = (cookie?: string, origin?: string) =>
      new Promise<number>((resolve, reject) => {
        const request = http.get(new URL('/ws', loupe.httpUrl), {
          agent: false,
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            ...(cookie ? { cookie } : {}),
            ...(origin ? { origin } : {}),
          },
        });
        request.on('upgrade', (response, socket) => {
          socket.destroy();
          resolve(response.statusCode ?? 0);
        });
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
      });
    expect(await upgrade()).toBe(401);
    const tech = await login(loupe.httpUrl, 'cleo', 'cleo-password-123');
    expect(await upgrade(tech.cookie)).toBe(101);
    // The cookie goes with an upgrade from any page: another site's page must not get the feed.
    expect(await upgrade(tech.cookie, 'http://evil.example')).toBe(403);
    expect(await upgrade(tech.cookie, new URL(loupe.httpUrl).origin)).toBe(101);
  });

  it('ends a session at logout', async () => {
    const tech = await login(loupe.httpUrl, 'cleo', 'cleo-password-123');
    expect((await tech.post('/api/logout')).status).toBe(200);
    const after = await tech.get('/api/reviews');
    expect(after.status).toBe(401);
  });
});

describe('the first admin', () => {
  it('is made with a random password shown once when none is given, never a default one', async () => {
    const { file } = await product();
    let loupe = await startLoupe('start', ['--config', file], { LOUPE_ADMIN_PASSWORD: '', LOUPE_ADMIN_USER: 'boss' });
    // shown on stderr, which reaches the test on its own pipe: wait for it rather than race it
    await expect.poll(() => loupe.logs.join('\n'), { timeout: 10_000 }).toMatch(/admin "boss" created with password/);
    const shown = loupe.logs.join('\n').match(/admin "boss" created with password {2}(\S+)/);
    expect(shown).not.toBeNull();
    const admin = await login(loupe.httpUrl, 'boss', (shown as RegExpMatchArray)[1]);
    expect((await admin.get('/api/people')).status).toBe(200);
    await loupe.stop();
    loupe = await startLoupe('start', ['--config', file], { LOUPE_ADMIN_PASSWORD: '', LOUPE_ADMIN_USER: 'boss' });
    expect(loupe.logs.join('\n')).not.toContain('created with password');
    await loupe.stop();
  });
});

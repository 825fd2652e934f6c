/**
 * Logins that slow guessing without locking anyone out, a login flood that cannot take the thread
 * pool from inspection, and a login redirect that only ever stays on this site. In process, with
 * the real auth routes and injected source addresses.
 */
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { installAuth } from '../../dashboard/src/auth.ts';
import { People } from '../../dashboard/src/people.ts';
import { HashGate, LoginThrottle } from '../../dashboard/src/throttle.ts';
import { safeNext } from '../../dashboard/web/next.js';
import { tempDir } from '../support/temp.ts';

const PASSWORD = 'fay-password-123';

async function server() {
  const people = new People(await tempDir('loupe-login-'), 1, Date.now, async () => undefined);
  await people.add('fay', 'technician', PASSWORD);
  const app = Fastify();
  await installAuth(app as never, { people, secret: 'x'.repeat(32), secureCookies: false, sessionHours: 1 });
  const attempt = (password: string, from: string) =>
    app.inject({
      method: 'POST',
      url: '/api/login',
      remoteAddress: from,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'fay', password }),
    });
  return { app, people, attempt };
}

describe('login throttling', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => close?.());

  it('holds back the source that failed, while the right password from another source still logs in', async () => {
    const { app, attempt } = await server();
    close = () => app.close();
    for (let i = 0; i < 5; i++) expect((await attempt('wrong-password', '10.0.0.66')).statusCode).toBe(401);
    const blocked = await attempt(PASSWORD, '10.0.0.66');
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await attempt(PASSWORD, '10.0.0.7')).statusCode).toBe(200);
  });

  it('makes a source wait longer after every further failure, and lets it try again after the wait', () => {
    let now = 0;
    const throttle = new LoginThrottle(() => now);
    for (let i = 0; i < 5; i++) throttle.failed('a', 'fay');
    const first = throttle.check('a', 'fay');
    expect(first).toMatchObject({ ok: false });
    now += 1000;
    expect(throttle.check('a', 'fay')).toMatchObject({ ok: true });
    throttle.failed('a', 'fay');
    const second = throttle.check('a', 'fay');
    expect(second.ok).toBe(false);
    expect(!second.ok && !first.ok && second.retryAfterS > first.retryAfterS).toBe(true);
    // The name itself is never locked: another source is only held a moment before it is checked.
    const elsewhere = throttle.check('b', 'fay');
    expect(elsewhere).toMatchObject({ ok: true });
    expect(elsewhere.ok && elsewhere.holdMs).toBeGreaterThan(0);
  });

  it('holds back a source spraying many names', () => {
    const throttle = new LoginThrottle(() => 0);
    for (let i = 0; i < 20; i++) throttle.failed('sprayer', `name-${i}`);
    expect(throttle.check('sprayer', 'someone-new')).toMatchObject({ ok: false });
    expect(throttle.check('colleague', 'someone-new')).toMatchObject({ ok: true, holdMs: 0 });
  });
});

describe('a login flood', () => {
  it('runs one password hash at a time and turns the excess away at once', async () => {
    const { app, people, attempt } = await server();
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => attempt('wrong-password', `10.1.0.${i}`)));
      const codes = answers.map((a) => a.statusCode);
      expect(people.hashing.peak).toBe(1);
      expect(codes.filter((c) => c === 503).length).toBeGreaterThan(0);
      expect(codes.every((c) => c === 401 || c === 503)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('lets queued work through in order and frees its slot on failure', async () => {
    const gate = new HashGate(1, 1);
    const order: number[] = [];
    const slow = gate.run(async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push(1);
      throw new Error('hash failed');
    });
    const queued = gate.run(async () => order.push(2));
    expect(await gate.run(async () => 3)).toBeNull();
    await expect(slow).rejects.toThrow('hash failed');
    await queued;
    expect(await gate.run(async () => 4)).toBe(4);
    expect(order).toEqual([1, 2]);
  });
});

describe('the login redirect', () => {
  const origin = 'http://127.0.0.1:8080';
  it.each([
    ['/log?station=a#x', '/log?station=a#x'],
    ['/', '/'],
    [null, '/'],
    ['https://evil.example/', '/'],
    ['//evil.example/', '/'],
    ['/\\evil.example/', '/'],
    ['\\\\evil.example', '/'],
    ['/%2fevil.example', '/'],
    ['/%5Cevil.example', '/'],
    ['/\t/evil.example', '/'],
    ['/\n/evil.example', '/'],
    ['javascript:alert(1)', '/'],
    [' /log', '/'],
    ['/log/../../x', '/x'],
  ])('sends %j to %j', (next, expected) => {
    expect(safeNext(next, origin)).toBe(expected);
  });
});

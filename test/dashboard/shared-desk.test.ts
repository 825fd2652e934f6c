/**
 * Dashboards on one broker, in process: claims shared between two dashboards, a refused decision
 * shown to the person who made it, a decision with the broker gone refused at once, and live-feed
 * clients that stop reading dropped past a bound. A fake station answers on the broker.
 */
import net from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../broker/embedded.ts';
import type { Review } from '../../contract/payloads.ts';
import { installAuth } from '../../dashboard/src/auth.ts';
import { ClaimBook } from '../../dashboard/src/claims.ts';
import { LineFeed } from '../../dashboard/src/feed.ts';
import { People } from '../../dashboard/src/people.ts';
import { dashboard } from '../../dashboard/src/server.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';
import { fileEvidence } from '../../edge/src/evidence/source.ts';

const log = pino({ level: 'silent' });
const BASE = 'loupe/line-1/cam-1';

function review(partId: string): Review {
  const now = new Date();
  return {
    schema: 'loupe/review@1',
    line: 'line-1',
    station: 'cam-1',
    partId,
    score: 1,
    thresholds: { passBelow: 0.5, rejectAbove: 2 },
    reasons: ['borderline'],
    categories: ['scratch'],
    model: { id: 'default', version: '1' },
    openedAt: now.toISOString(),
    deadline: new Date(now.getTime() + 60_000).toISOString(),
    defaultAction: 'reject',
  };
}

interface Desk {
  app: FastifyInstance;
  feed: LineFeed;
  claims: ClaimBook;
  url: string;
  as(name: string): Promise<{ cookie: string; post(path: string, body?: object): Promise<Response> }>;
}

async function desk(brokerUrl: string, feedBufferBytes?: number): Promise<Desk> {
  const dir = await tempDir('loupe-desk-');
  const people = new People(dir, 1);
  for (const name of ['ana', 'ben']) await people.add(name, 'technician', `${name}-password-123`);
  const app = Fastify({ forceCloseConnections: true });
  await installAuth(app as never, { people, secret: 's'.repeat(32), secureCookies: false, sessionHours: 1 });
  const feed = new LineFeed({ url: brokerUrl }, 'loupe', log);
  const claims = new ClaimBook(dir, 60);
  feed.claims = claims;
  await feed.start();
  await app.register(dashboard, { feed, claims, evidence: fileEvidence(dir), people, feedBufferBytes });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  return {
    app,
    feed,
    claims,
    url,
    async as(name) {
      const response = await fetch(`${url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password: `${name}-password-123` }),
      });
      const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0];
      const { csrf } = (await response.json()) as { csrf: string };
      return {
        cookie,
        post: (path, body) =>
          fetch(`${url}${path}`, {
            method: 'POST',
            headers: { cookie, 'x-csrf-token': csrf, ...(body ? { 'content-type': 'application/json' } : {}) },
            body: body ? JSON.stringify(body) : undefined,
          }),
      };
    },
  };
}

async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dashboards on one broker', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  });

  async function setUp(
    feedBufferBytes?: number,
  ): Promise<{ broker: EmbeddedBroker; station: mqtt.MqttClient; a: Desk; b: Desk }> {
    const broker = await startEmbeddedBroker('127.0.0.1', await freePort());
    cleanup.push(() => broker.close());
    const station = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanup.push(() => station.endAsync(true));
    const a = await desk(broker.url, feedBufferBytes);
    cleanup.push(
      () => a.feed.stop(),
      () => a.app.close(),
    );
    const b = await desk(broker.url, feedBufferBytes);
    cleanup.push(
      () => b.feed.stop(),
      () => b.app.close(),
    );
    await station.publishAsync(`${BASE}/review/P-1`, JSON.stringify(review('P-1')), { qos: 1, retain: true });
    await until(
      'both dashboards to see P-1',
      () => a.feed.reviews.has('line-1/cam-1/P-1') && b.feed.reviews.has('line-1/cam-1/P-1'),
    );
    return { broker, station, a, b };
  }

  it('honours on one dashboard a claim made on the other', async () => {
    const { a, b } = await setUp();
    const ana = await a.as('ana');
    const ben = await b.as('ben');
    expect((await ana.post('/api/reviews/line-1/cam-1/P-1/claim')).status).toBe(200);
    await until('the claim to reach the other dashboard', () => b.claims.holder('line-1/cam-1/P-1'));
    const refused = await ben.post('/api/reviews/line-1/cam-1/P-1/decision', { decision: 'accept' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: 'claimed', holder: 'ana' });
    expect((await ben.post('/api/reviews/line-1/cam-1/P-1/claim')).status).toBe(409);
  });

  it('shows the person a decision the station refused', async () => {
    const { station, a } = await setUp();
    // The station refuses every decision, as it does when someone decided the part first.
    await station.subscribeAsync(`${BASE}/decision`, { qos: 1 });
    station.on('message', (topic, payload) => {
      const { partId } = JSON.parse(payload.toString()) as { partId: string };
      const error = {
        schema: 'loupe/error@1',
        line: 'line-1',
        station: 'cam-1',
        topic,
        code: 'conflict',
        message: 'P-1 was already rejected by carl',
        partId,
        at: new Date().toISOString(),
      };
      void station.publishAsync(`${BASE}/error`, JSON.stringify(error), { qos: 1 });
    });
    const ana = await a.as('ana');
    const ben = await a.as('ben');
    const feedOf = async (cookie: string) => {
      const socket = new WebSocket(`${a.url.replace('http', 'ws')}/ws`, { headers: { cookie } });
      const events: { type: string; message?: string }[] = [];
      socket.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as { type: string }));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      return { socket, events };
    };
    const anaFeed = await feedOf(ana.cookie);
    const benFeed = await feedOf(ben.cookie);
    expect((await ana.post('/api/reviews/line-1/cam-1/P-1/decision', { decision: 'accept' })).status).toBe(202);
    const refused = await until('the refusal on ana’s screen', () =>
      anaFeed.events.find((e) => e.type === 'decision-refused'),
    );
    expect(refused).toMatchObject({
      partId: 'P-1',
      user: 'ana',
      code: 'conflict',
      message: 'P-1 was already rejected by carl',
    });
    expect(benFeed.events.filter((e) => e.type === 'decision-refused')).toEqual([]);
    anaFeed.socket.terminate();
    benFeed.socket.terminate();
  });

  it('refuses a decision at once, with a clear message, while the broker is unreachable; the part stays claimable', async () => {
    const { broker, a } = await setUp();
    const ana = await a.as('ana');
    await broker.close();
    await until('the dashboard to notice the broker is gone', () => !a.feed.connected);
    const answer = await ana.post('/api/reviews/line-1/cam-1/P-1/decision', {
      decision: 'reject',
      category: 'scratch',
    });
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({
      error: 'broker_unreachable',
      message: expect.stringContaining('NOT sent'),
    });
    expect((await ana.post('/api/reviews/line-1/cam-1/P-1/claim')).status).toBe(200);
  });

  it('drops a live-feed client that stops reading, and keeps serving the others', async () => {
    const { a } = await setUp(256 * 1024);
    const ana = await a.as('ana');
    // A raw client that completes the upgrade and then never reads.
    const stalled = net.connect(Number(new URL(a.url).port), '127.0.0.1');
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: ${ana.cookie}\r\n\r\n`,
    );
    await until('the stalled client to be listening', () => a.feed.listening === 1);
    stalled.pause();
    const big = review('P-big');
    big.categories = ['x'.repeat(64 * 1024)];
    for (let i = 0; i < 400 && a.feed.listening > 0; i++) {
      a.feed.emit({ type: 'review', review: big });
      await new Promise((r) => setImmediate(r));
    }
    expect(a.feed.listening).toBe(0);
    stalled.destroy();
  });
});

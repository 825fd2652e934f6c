/**
 * Review to screen: from the edge opening a review to the part drawn in a technician's browser
 * (Debian's Chromium, logged in, on the real dashboard), against the raw cost of the same trip:
 * a bare WebSocket message from Node to a bare page in the same browser, drawn the same way
 * (timed at the animation frame after it arrives). Same machine clock on both sides.
 *
 *   npx tsx bench/screen.ts            prints one JSON object
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import websocket from '@fastify/websocket';
import pino from 'pino';
import sharp from 'sharp';
import { chromium, type Page } from 'playwright-core';
import { checkConfig } from '../config/load.ts';
import { loginApi } from '../lab/api.ts';
import { run } from '../cli/run.ts';
import { generatePart } from '../lab/synth.ts';

const root = path.resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

export async function benchScreen(
  options: { items?: number; warmupItems?: number; gapMs?: number; maxSeconds?: number } = {},
): Promise<Record<string, number>> {
  if (!existsSync(CHROMIUM))
    throw new Error(`the review-to-screen benchmark needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
  const items = options.items ?? 240;
  const warmupItems = options.warmupItems ?? 40;
  const gapMs = options.gapMs ?? 25;
  const deadline = Date.now() + (options.maxSeconds ?? 120) * 1000;
  const manifest = JSON.parse(await readFile(path.join(root, 'models', 'default', 'manifest.json'), 'utf8')) as {
    thresholds: { passBelow: number; rejectAbove: number };
  };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-screen-'));
  const password = randomBytes(12).toString('base64url');
  const config = checkConfig({
    line: 'bench',
    dataDir: path.join(dir, 'data'),
    mqtt: { port: 0 },
    http: { port: 0 },
    dashboard: { admin: { user: 'bench', password } },
    // Defective parts between the thresholds: every one is a review.
    stations: [
      {
        id: 'cam-b',
        thresholds: { passBelow: 0, rejectAbove: manifest.thresholds.rejectAbove * 1e6 },
        audit: { share: 0 },
        review: { deadlineSeconds: 3600 },
        queue: { workers: 1 },
      },
    ],
  });
  const running = await run(config, { broker: true, edge: true, dashboard: true }, pino({ level: 'warn' }));
  const frames: Buffer[] = [];
  for (let i = 0; i < 8; i++)
    frames.push(
      await sharp((await generatePart({ category: 'bracket', seed: 9, index: i, defect: 'scratch' })).image)
        .png()
        .toBuffer(),
    );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  try {
    // The real path: a logged-in technician screen.
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await page.goto(new URL('/login', running.httpUrl).href);
    await page.fill('input[name=name]', 'bench');
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#link.online');
    await page.evaluate(() => {
      const w = window as unknown as { latencies: number[] };
      w.latencies = [];
      addEventListener('loupe:drawn', (event) => {
        const { items: drawn, at } = (event as CustomEvent<{ items: { openedAt: string }[]; at: number }>).detail;
        for (const item of drawn) w.latencies.push(at - Date.parse(item.openedAt));
      });
    });
    const api = await loginApi(running.httpUrl, 'bench', password);
    const post = async (partId: string, i: number) => {
      await api.frame('cam-b', partId, frames[i % frames.length], 'image/png'); // throws on a refused frame: no latency from parts that never opened
      await new Promise((r) => setTimeout(r, gapMs));
    };
    // Warm-up, reported apart: the first parts after a cold start pay for the model's first runs,
    // V8's first compilations and the page's first draws, many times a settled part's latency
    // (docs/benchmarks.md), so over 240 parts p99 was the start-up, not the screen a technician
    // keeps open for a shift.
    for (let i = 0; i < warmupItems && Date.now() < deadline; i++) await post(`W-${i}`, i);
    const cold = await collect(page, warmupItems, deadline);
    await page.evaluate(() => ((window as unknown as { latencies: number[] }).latencies = []));
    for (let i = 0; i < items && Date.now() < deadline; i++) await post(`S-${i}`, i);
    const screen = await collect(page, items, deadline);

    // The floor: the same trip with nothing of ours in it.
    const raw = await rawTrip(browser, items, gapMs, deadline);
    const p50 = quantile(screen, 0.5);
    const rawP50 = quantile(raw, 0.5);
    return {
      reviewToScreenItems: screen.length,
      reviewToScreenFirstMs: round(cold[0] ?? Number.NaN),
      reviewToScreenWarmupMaxMs: round(cold.length > 0 ? Math.max(...cold) : Number.NaN),
      reviewToScreenP50Ms: round(p50),
      reviewToScreenP99Ms: round(quantile(screen, 0.99)),
      rawToScreenP50Ms: round(rawP50),
      rawToScreenP99Ms: round(quantile(raw, 0.99)),
      reviewToScreenOverheadMs: round(p50 - rawP50),
    };
  } finally {
    await browser.close();
    await running.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function collect(page: Page, items: number, deadline: number): Promise<number[]> {
  for (;;) {
    const latencies = await page.evaluate(() => (window as unknown as { latencies: number[] }).latencies.slice());
    if (latencies.length >= items || Date.now() > deadline) return latencies;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A bare Fastify WebSocket sending timestamps to a bare page that notes each at the next frame. */
async function rawTrip(
  browser: import('playwright-core').Browser,
  items: number,
  gapMs: number,
  deadline: number,
): Promise<number[]> {
  const app = Fastify();
  await app.register(websocket);
  const sockets = new Set<{ send(data: string): void }>();
  app.get('/', async (_request, reply) =>
    reply.type('text/html').send(`<!doctype html><ul id="list"></ul><script>
      window.latencies = [];
      const socket = new WebSocket('ws://' + location.host + '/ws');
      socket.onopen = () => document.title = 'open';
      socket.onmessage = (m) => { const { sentAt, i } = JSON.parse(m.data); const li = document.createElement('li'); li.textContent = i; document.getElementById('list').append(li);
        requestAnimationFrame(() => window.latencies.push(Date.now() - sentAt)); };
    </script>`),
  );
  app.get('/ws', { websocket: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/`);
    await page.waitForFunction(() => document.title === 'open');
    for (let i = 0; i < items && Date.now() < deadline; i++) {
      for (const socket of sockets) socket.send(JSON.stringify({ sentAt: Date.now(), i }));
      await new Promise((r) => setTimeout(r, gapMs));
    }
    return await collect(page, items, deadline);
  } finally {
    await app.close();
  }
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const round = (ms: number) => Math.round(ms * 10) / 10;

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchScreen()));

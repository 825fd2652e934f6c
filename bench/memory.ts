/**
 * Peak memory under two floods the security review found: 50 frame uploads of 20 MiB at once, and
 * 50 live-feed clients that stop reading while reviews arrive. Starts `loupe start` from a given
 * checkout (default: this one) in a temp folder and reads the child's peak RSS (VmHWM).
 *   npx tsx bench/memory.ts [repo-root]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';

const root = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..'));
const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-memory-'));
const port = async () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
const [httpPort, mqttPort] = [await port(), await port()];
await writeFile(
  path.join(dir, 'loupe.yaml'),
  `line: line-1\ndataDir: ${dir}/data\nmqtt: { port: ${mqttPort} }\nhttp: { port: ${httpPort} }\nstations: [{ id: cam-1 }]\n`,
);
const child = spawn(
  process.execPath,
  [path.join(root, 'bin', 'loupe.js'), 'start', '--config', path.join(dir, 'loupe.yaml')],
  {
    cwd: root,
    env: { ...process.env, LOUPE_ADMIN_PASSWORD: 'bench-password-123', LOUPE_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
const peak = async () => Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
const rss = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
const base = `http://127.0.0.1:${httpPort}`;
for (let i = 0; i < 200; i++) {
  if (
    await fetch(`${base}/healthz`).then(
      () => true,
      () => false,
    )
  )
    break;
  await new Promise((r) => setTimeout(r, 100));
}
const atStart = await peak();

const body = Buffer.alloc(20 * 1024 * 1024, 7);
const uploads = await Promise.all(
  Array.from({ length: 50 }, (_, i) =>
    fetch(`${base}/api/stations/cam-1/frames?partId=U-${i}`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body,
    }).then(
      (r) => r.status,
      () => 0,
    ),
  ),
);
const afterUploads = await peak();

await new Promise((r) => setTimeout(r, 2000));
const beforeFeed = await rss();
const login = await fetch(`${base}/api/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'admin', password: 'bench-password-123' }),
});
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
const stalled = Array.from({ length: 50 }, () => {
  const socket = net.connect(httpPort, '127.0.0.1', () =>
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${httpPort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: ${cookie}\r\n\r\n`,
    ),
  );
  socket.on('error', () => undefined);
  setTimeout(() => socket.pause(), 200);
  return socket;
});
await new Promise((r) => setTimeout(r, 500));
const station = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`);
const review = (i: number) =>
  JSON.stringify({
    schema: 'loupe/review@1',
    line: 'line-1',
    station: 'cam-9',
    partId: `R-${i}`,
    score: 1,
    thresholds: { passBelow: 0.5, rejectAbove: 2 },
    model: { id: 'm', version: '1' },
    reasons: ['borderline'],
    openedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 6e5).toISOString(),
    defaultAction: 'reject',
    categories: ['x'.repeat(16 * 1024)],
  });
for (let i = 0; i < 2000; i++) await station.publishAsync(`loupe/line-1/cam-9/review/R-${i}`, review(i), { qos: 1 });
await new Promise((r) => setTimeout(r, 1000));
const afterFeed = await peak();
const feedGrowth = (await rss()) - beforeFeed;
await station.endAsync();
for (const s of stalled) s.destroy();
child.kill('SIGTERM');
console.log(
  JSON.stringify({
    root,
    peakRssMb: {
      atStart: Math.round(atStart),
      after50Uploads20MiB: Math.round(afterUploads),
      after50StalledFeedClients: Math.round(afterFeed),
    },
    rssGrowthMbWith50StalledFeedClients: Math.round(feedGrowth),
    uploadStatuses: Object.fromEntries([...new Set(uploads)].map((s) => [s, uploads.filter((x) => x === s).length])),
  }),
);

/**
 * A full disk on a real (small) file system: the station stays up, says so in status and /healthz,
 * answers every frame fail-safe (review, reason storage_full; never a pass it could not record),
 * and recovers by itself when space returns. Mounting a tmpfs needs root: CI runs as root; locally
 * the test is skipped with a message, and fails under CI=true.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { Result, Status } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { inCI, mosquittoPath, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const root = process.getuid?.() === 0;
if (!root) {
  if (inCI) throw new Error('CI=true and the disk-full test needs root to mount a tmpfs');
  console.warn('SKIPPED: the disk-full test needs root to mount a small tmpfs as the data folder');
}
const binary = mosquittoPath();
const suite = root && binary ? describe : describe.skip;

/** Fills the file system holding `dir` to the last byte: answers the filler's path. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let size = 0;
  for (let i = 0; i < 100_000; i++) {
    try {
      writeFileSync(file, chunk, { flag: 'a' });
      size += chunk.length;
    } catch {
      break;
    }
  }
  // The last bytes, a few at a time, so not even a small write fits.
  for (const bytes of [4096, 512, 64, 1]) {
    for (let i = 0; i < 64; i++) {
      try {
        writeFileSync(file, Buffer.alloc(bytes, 1), { flag: 'a' });
      } catch {
        break;
      }
    }
  }
  expect(size).toBeGreaterThan(0);
  return file;
}

suite('a station whose disk fills up', () => {
  let mosquitto: Mosquitto | undefined;
  let loupe: LoupeProcess | undefined;
  let mounted: string | undefined;
  const clients: Collector[] = [];

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await loupe?.stop();
    await mosquitto?.stop();
    if (mounted) execFileSync('umount', ['-l', mounted]);
  });

  it('stays up, answers review (storage_full) while full, and recovers by itself with one answer per part', async () => {
    mosquitto = await startMosquitto(binary as string);
    const dataDir = path.join(await tempDir('loupe-disk-full-'), 'data');
    execFileSync('mkdir', ['-p', dataDir]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dataDir]);
    mounted = dataDir;
    const { file } = await writeConfig({
      line: 'line-d',
      dataDir,
      mqtt: { url: mosquitto.url },
      http: { port: 0 },
      stations: [{ id: 'cam-d', review: { deadlineSeconds: 600 }, statusIntervalSeconds: 1 }],
    });
    loupe = await startLoupe('edge', ['--config', file]);
    const base = 'loupe/line-d/cam-d';
    const plc = await Collector.connect(mosquitto.url, [`${base}/result`, `${base}/verdict`, `${base}/status`], {
      clientId: 'plc-disk-full',
      clean: false,
    });
    clients.push(plc);
    await plc.stationOnline(base);
    const sender = await mqtt.connectAsync(mosquitto.url, { clientId: 'plc-disk-full-sender' });
    const good = await goodPart(1, 'png');
    const bad = await defectivePart(2, 'missing', 'png');
    const post = async (partId: string, image: Buffer) => {
      const response = await fetch(
        new URL(`/api/stations/cam-d/frames?partId=${partId}`, (loupe as LoupeProcess).httpUrl),
        { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(image) },
      );
      expect(response.status).toBe(200);
      return (await response.json()) as Result;
    };
    const health = async () => {
      const response = await fetch(new URL('/healthz', (loupe as LoupeProcess).httpUrl));
      return { code: response.status, body: (await response.json()) as { ok: boolean; stations: Status[] } };
    };

    const before = [await post('D-0001', good), await post('D-0002', bad)];
    expect(before[0].verdict).toBe('pass');

    const filler = fill(dataDir);
    // A small write may still fit in a file's last page: frames go on until the disk refuses one.
    const whileFull: Result[] = [];
    const sentFull: string[] = [];
    for (let i = 0; i < 200 && whileFull.filter((r) => r.reasons.includes('storage_full')).length < 4; i++) {
      const id = `D-1${String(i).padStart(3, '0')}`;
      sentFull.push(id);
      whileFull.push(await post(id, i % 2 ? bad : good));
      const viaMqtt = `D-2${String(i).padStart(3, '0')}`;
      sentFull.push(viaMqtt);
      await sender.publishAsync(`${base}/frame/${viaMqtt}`, i % 2 ? bad : good, { qos: 1 });
    }
    const firstFull = whileFull.findIndex((r) => r.reasons.includes('storage_full'));
    expect(firstFull).toBeGreaterThanOrEqual(0);
    // Once full, every frame is answered review (storage_full) until space is back: nothing passes.
    for (const result of whileFull.slice(firstFull)) {
      expect(result.verdict).toBe('review');
      expect(result.reasons).toEqual(['storage_full']);
    }
    const full = await health();
    expect(full.code).toBe(503);
    expect(full.body.stations[0].storage).toBe('full');
    await plc.waitFor('status saying the disk is full', () =>
      plc.json<Status>('/status').some((s) => s.storage === 'full'),
    );
    expect(loupe.child.exitCode).toBeNull();

    rmSync(filler);
    await plc.waitFor(
      'status saying the disk is fine again',
      () => plc.json<Status>('/status').slice(-1)[0]?.storage === 'ok',
      20_000,
    );
    expect((await health()).code).toBe(200);
    const after = [await post('D-3001', good), await post('D-3002', bad)];
    expect(after[0].verdict).toBe('pass');

    const ids = ['D-0001', 'D-0002', ...sentFull, 'D-3001', 'D-3002'];
    const results = await plc.waitFor('a result for every part', () => {
      const got = plc.json<Result>('/result');
      return ids.every((id) => got.some((r) => r.partId === id)) && got;
    });
    for (const id of ids)
      expect(
        results.filter((r) => r.partId === id),
        id,
      ).toHaveLength(1);
    // Every part answered other than storage_full was recorded before its answer went out.
    const db = new Database(path.join(dataDir, 'reviews', 'line-d', 'cam-d', 'station.db'), { readonly: true });
    const recorded = new Set(
      (db.prepare('SELECT part_id FROM answers').all() as { part_id: string }[]).map((row) => row.part_id),
    );
    db.close();
    for (const result of results.filter((r) => !r.reasons.includes('storage_full')))
      expect(recorded.has(result.partId), result.partId).toBe(true);
    expect(results.filter((r) => r.reasons.includes('storage_full')).length).toBeGreaterThanOrEqual(4);
    await sender.endAsync();
    expect(loupe.child.exitCode).toBeNull();
  }, 120_000);
});

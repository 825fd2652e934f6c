/**
 * Memory and shutdown bounds through the real `loupe` command: a cap on bytes of frames in memory
 * across ingest paths (HTTP refused with 503 before its body is read, MQTT sent to review as
 * overload, never passed), and a SIGTERM that finishes with the broker gone and a feed client that
 * does not read.
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { login } from '../support/session.ts';
import { freePort, mosquittoPath, startMosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const MiB = 1024 * 1024;

describe('frames in memory', () => {
  let loupe: LoupeProcess;
  beforeAll(async () => {
    const dir = await tempDir('loupe-limits-');
    const { file } = await writeConfig(
      {
        line: 'line-m',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        memory: { framesInFlightBytes: 2 * MiB },
        stations: [{ id: 'cam-m' }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
  });
  afterAll(() => loupe?.stop());

  it('refuses an upload over the cap with 503 before reading it, and still inspects the next', async () => {
    const big = Buffer.alloc(3 * MiB, 1);
    const refused = await fetch(new URL('/api/stations/cam-m/frames?partId=BIG-1', loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: big,
    });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({
      error: 'busy',
      message: expect.stringContaining('memory.framesInFlightBytes'),
    });
    const fine = await fetch(new URL('/api/stations/cam-m/frames?partId=OK-1', loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(await goodPart(1)),
    });
    expect(fine.status).toBe(200);
    expect(await fine.json()).toMatchObject({ partId: 'OK-1', verdict: 'pass' });
  });

  it('sends an MQTT frame over the cap to review as overload, never passes it', async () => {
    const plc = await Collector.connect(loupe.mqttUrl, ['loupe/line-m/cam-m/#']);
    await plc.stationOnline('loupe/line-m/cam-m');
    const good = await goodPart(2);
    // A readable good part, padded past the cap: inspected it would pass.
    await plc.client.publishAsync('loupe/line-m/cam-m/frame/BIG-2', Buffer.concat([good, Buffer.alloc(3 * MiB)]), {
      qos: 1,
    });
    const result = await plc.waitFor('result of BIG-2', () =>
      plc.json<Result>('/result').find((r) => r.partId === 'BIG-2'),
    );
    expect(result).toMatchObject({ verdict: 'review', reasons: ['overload'] });
    await plc.close();
  });
});

const mosquitto = mosquittoPath();
(mosquitto ? describe : describe.skip)('shutdown', () => {
  it('finishes on SIGTERM with the broker gone and a feed client that does not read', async () => {
    const broker = await startMosquitto(mosquitto as string);
    const dir = await tempDir('loupe-shutdown-');
    const { file } = await writeConfig(
      {
        line: 'line-q',
        dataDir: path.join(dir, 'data'),
        mqtt: { url: broker.url },
        http: { port: 0 },
        stations: [{ id: 'cam-q' }],
      },
      dir,
    );
    const loupe = await startLoupe('start', ['--config', file]);
    const tech = await login(loupe.httpUrl);
    const stalled = net.connect(Number(new URL(loupe.httpUrl).port), '127.0.0.1');
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: ${tech.cookie}\r\n\r\n`,
    );
    stalled.pause();
    // An upload that never finishes, and a broker that is gone.
    const hung = net.connect(Number(new URL(loupe.httpUrl).port), '127.0.0.1');
    hung.on('error', () => undefined);
    hung.write(
      `POST /api/stations/cam-q/frames?partId=H-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\nxx`,
    );
    await broker.stop();
    const code = await loupe.stop('SIGTERM'); // the helper SIGKILLs after 10 s: null would mean it hung
    stalled.destroy();
    hung.destroy();
    expect(code).toBe(0);
  });
});

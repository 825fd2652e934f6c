/**
 * What a PLC integrator relies on, against Debian's Mosquitto: nothing lost when the broker goes
 * away, nothing lost when the station is killed, and every bad inbound message answered.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorMessage, Result, Status } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { mosquittoPath, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const binary = mosquittoPath();
const suite = binary ? describe : describe.skip;

async function edgeConfig(mosquitto: Mosquitto, dataDir: string) {
  return writeConfig({
    line: 'line-i',
    dataDir,
    mqtt: { url: mosquitto.url },
    http: { port: 0 },
    stations: [{ id: 'cam-i', review: { deadlineSeconds: 600 }, statusIntervalSeconds: 1 }],
  });
}

async function post(loupe: LoupeProcess, partId: string, image: Buffer): Promise<Result> {
  const response = await fetch(new URL(`/api/stations/cam-i/frames?partId=${partId}`, loupe.httpUrl), {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(image),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Result;
}

const firstOccurrences = (ids: string[]) => [...new Set(ids)];

suite('the line keeps its results when the network drops', () => {
  let mosquitto: Mosquitto;
  let loupe: LoupeProcess | undefined;
  const collectors: Collector[] = [];
  const images: Buffer[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 6; i++) images.push(await goodPart(i, 'png'));
    images.push(await defectivePart(1, 'missing', 'png'));
  });
  afterEach(async () => {
    await Promise.all(collectors.splice(0).map((c) => c.close().catch(() => undefined)));
    await loupe?.stop();
    loupe = undefined;
    await mosquitto?.stop();
  });

  it('delivers a result for every one of 1,000 parts, in order, across a broker outage of several seconds', async () => {
    mosquitto = await startMosquitto(binary as string, ['max_queued_messages 0']);
    const { file, dir } = await edgeConfig(mosquitto, path.join(await tempDir('loupe-outage-'), 'data'));
    loupe = await startLoupe('edge', ['--config', file]);
    void dir;
    const plc = await Collector.connect(mosquitto.url, ['loupe/line-i/cam-i/result'], {
      clientId: 'plc-outage',
      clean: false,
    });
    collectors.push(plc);

    const sent: string[] = [];
    let outageStarted = 0;
    for (let i = 0; i < 1000; i++) {
      if (i === 300) {
        await mosquitto.stop();
        outageStarted = Date.now();
      }
      if (outageStarted && Date.now() - outageStarted > 4000 && mosquitto.process.exitCode !== null)
        await mosquitto.restart();
      const partId = `P-${String(i).padStart(4, '0')}`;
      sent.push(partId);
      await post(loupe, partId, images[i % images.length]);
    }
    if (mosquitto.process.exitCode !== null) await mosquitto.restart();
    expect(Date.now() - outageStarted).toBeGreaterThan(4000);

    const received = await plc.waitFor(
      '1000 distinct results',
      () => {
        const ids = firstOccurrences(plc.json<Result>('/result').map((r) => r.partId));
        return ids.length >= 1000 && ids;
      },
      60_000,
    );
    expect(received).toEqual(sent);
  }, 180_000);

  it('delivers its outbox after being killed with SIGKILL while the broker was away', async () => {
    mosquitto = await startMosquitto(binary as string);
    // the PLC's persistent session exists before the outage
    const first = await Collector.connect(mosquitto.url, ['loupe/line-i/cam-i/result'], {
      clientId: 'plc-kill',
      clean: false,
    });
    await first.close();

    const dataDir = path.join(await tempDir('loupe-kill-'), 'data');
    const { file } = await edgeConfig(mosquitto, dataDir);
    // The station has reached this broker once (a broker never reached at start is a wrong setting:
    // the process exits, test/e2e/start-failures.test.ts); then the outage.
    loupe = await startLoupe('edge', ['--config', file]);
    await mosquitto.stop();
    const down = loupe;
    await expect
      .poll(
        async () =>
          (
            (await (await fetch(new URL('/healthz', down.httpUrl))).json()) as {
              stations: { brokerConnected: boolean }[];
            }
          ).stations[0].brokerConnected,
        { timeout: 20_000, interval: 100 },
      )
      .toBe(false);
    const parts = ['K-1', 'K-2', 'K-3', 'K-4', 'K-5'];
    for (const [i, partId] of parts.entries()) await post(loupe, partId, images[i]);
    const health = (await (await fetch(new URL('/healthz', loupe.httpUrl))).json()) as {
      stations: { outboxDepth: number; brokerConnected: boolean }[];
    };
    expect(health.stations[0].brokerConnected).toBe(false);
    expect(health.stations[0].outboxDepth).toBeGreaterThanOrEqual(parts.length);
    await loupe.stop('SIGKILL');

    // Restarted during the outage: a broker it reached before is retried, the station starts.
    loupe = await startLoupe('edge', ['--config', file]);
    await mosquitto.restart();
    // The PLC comes back only once the station has emptied its outbox: the results wait in the PLC's
    // persistent session and reach it right behind its CONNACK.
    const restarted = loupe;
    await expect
      .poll(
        async () =>
          ((await (await fetch(new URL('/healthz', restarted.httpUrl))).json()) as typeof health).stations[0]
            .outboxDepth,
        { timeout: 20_000, interval: 100 },
      )
      .toBe(0);
    const plc = await Collector.connect(mosquitto.url, ['loupe/line-i/cam-i/result'], {
      clientId: 'plc-kill',
      clean: false,
    });
    collectors.push(plc);
    const received = await plc.waitFor(
      'the five results from before the kill',
      () => {
        const ids = firstOccurrences(plc.json<Result>('/result').map((r) => r.partId));
        return ids.length >= parts.length && ids;
      },
      30_000,
    );
    expect(received).toEqual(parts);
  }, 120_000);
  it('answers every part it accepted before a SIGKILL: inspected, or review / interrupted, never both', async () => {
    mosquitto = await startMosquitto(binary as string);
    const { file } = await edgeConfig(mosquitto, path.join(await tempDir('loupe-inhand-'), 'data'));
    loupe = await startLoupe('edge', ['--config', file]);
    const plc = await Collector.connect(mosquitto.url, ['loupe/line-i/cam-i/result', 'loupe/line-i/cam-i/status'], {
      clientId: 'plc-inhand',
      clean: false,
    });
    collectors.push(plc);
    await plc.stationOnline('loupe/line-i/cam-i');
    // A camera that sends a burst of frames (under the queue's 64), each acknowledged by the broker
    // only after the station took it; the station dies right behind the last acknowledgement.
    const camera = await Collector.connect(mosquitto.url, ['loupe/line-i/cam-i/error'], { clientId: 'camera-inhand' });
    collectors.push(camera);
    const parts = [...Array(48).keys()].map((i) => `H-${String(i).padStart(2, '0')}`);
    await Promise.all(
      parts.map((partId, i) =>
        camera.client.publishAsync(`loupe/line-i/cam-i/frame/${partId}`, images[i % images.length], { qos: 1 }),
      ),
    );
    await loupe.stop('SIGKILL');

    loupe = await startLoupe('edge', ['--config', file]);
    const results = await plc.waitFor(
      'a result for every part',
      () => {
        const all = plc.json<Result>('/result');
        return parts.every((partId) => all.some((r) => r.partId === partId)) && all;
      },
      60_000,
    );
    const interrupted = results.filter((r) => r.reasons.includes('interrupted'));
    expect(interrupted.length).toBeGreaterThan(0); // the kill caught parts in hand
    for (const r of interrupted) {
      expect(r).toMatchObject({ verdict: 'review', score: null, reasons: ['interrupted'] });
      expect(r.detail).toMatch(/stopped while this part was in hand/);
    }
    for (const r of results.filter((o) => o.verdict === 'pass')) expect(r.score).not.toBeNull();
    // A part inspected before the kill is not also answered as interrupted: one outcome per part.
    for (const partId of parts) {
      const outcomes = new Set(
        results.filter((r) => r.partId === partId).map((r) => `${r.verdict} ${r.reasons.join()}`),
      );
      expect([partId, outcomes.size]).toEqual([partId, 1]);
    }
  }, 120_000);
});

suite('inbound messages and the PLC handshake', () => {
  let mosquitto: Mosquitto;
  let loupe: LoupeProcess;
  let plc: Collector;
  beforeAll(async () => {
    mosquitto = await startMosquitto(binary as string);
    const { file } = await edgeConfig(mosquitto, path.join(await tempDir('loupe-inbound-'), 'data'));
    loupe = await startLoupe('edge', ['--config', file]);
    plc = await Collector.connect(mosquitto.url, ['loupe/line-i/cam-i/#']);
    await plc.stationOnline('loupe/line-i/cam-i');
  });
  afterAll(async () => {
    await plc?.close();
    await loupe?.stop();
    await mosquitto?.stop();
  });

  const inspected = async () => {
    const text = await (await fetch(new URL('/metrics', loupe.httpUrl))).text();
    return [...text.matchAll(/^loupe_frames_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  };

  it('answers malformed payloads on every inbound topic with a clear error, and nothing else changes', async () => {
    const before = { inspected: await inspected(), messages: plc.messages.length };
    const bad: [string, string, ErrorMessage['code'], string][] = [
      ['trigger', '{partId:', 'malformed_json', 'payload is not JSON'],
      ['trigger', '{"partId":5}', 'invalid_payload', 'partId must be a string'],
      ['trigger', '{"partId":"p1","extra":true}', 'invalid_payload', 'unknown key "extra"'],
      ['trigger', '{"partId":"../../etc"}', 'invalid_payload', 'partId "../../etc" is not allowed'],
      ['decision', 'not json', 'malformed_json', 'payload is not JSON'],
      [
        'decision',
        '{"partId":"p1","decision":"maybe","user":"ana"}',
        'invalid_payload',
        'part p1: decision must be "accept" or "reject"',
      ],
      ['decision', '{"partId":"p1","decision":"accept"}', 'invalid_payload', 'missing "user"'],
      [
        'decision',
        '{"partId":"never-seen","decision":"accept","user":"ana"}',
        'unknown_part',
        'no review is open for part never-seen',
      ],
      [
        'decision',
        '{"partId":"never-seen","decision":"reject","category":"rust","user":"ana"}',
        'invalid_payload',
        'category "rust" is not one of',
      ],
      ['frame/-leading-dash', 'bytes', 'invalid_part_id', 'part id "-leading-dash" is not allowed'],
    ];
    for (const [topic, payload] of bad)
      await plc.client.publishAsync(`loupe/line-i/cam-i/${topic}`, payload, { qos: 1 });
    const errors = await plc.waitFor(`${bad.length} errors`, () => {
      const e = plc.json<ErrorMessage>('/error');
      return e.length >= bad.length && e;
    });
    bad.forEach(([topic, , code, text], i) => {
      expect(errors[i]).toMatchObject({ topic: `loupe/line-i/cam-i/${topic}`, code });
      expect(errors[i].message).toContain(text);
    });
    // nothing was inspected, and nothing but errors was published
    expect(await inspected()).toBe(before.inspected);
    const since = plc.messages.slice(before.messages).filter((m) => !m.topic.endsWith('/status'));
    expect(since.filter((m) => !m.topic.endsWith('/error')).map((m) => m.topic)).toEqual(
      bad.map(([topic]) => `loupe/line-i/cam-i/${topic}`),
    );
  });

  it('answers the same trigger (its requestId) twice with the same result, inspecting once', async () => {
    const before = await inspected();
    await plc.client.publishAsync('loupe/line-i/cam-i/trigger', JSON.stringify({ partId: 'T-1', requestId: 'plc-7' }), {
      qos: 1,
    });
    await plc.client.publishAsync('loupe/line-i/cam-i/frame/T-1', await goodPart(9, 'png'), { qos: 1 });
    await plc.waitFor('first answer', () => plc.json<Result>('/result').some((r) => r.partId === 'T-1'));
    await plc.client.publishAsync(
      'loupe/line-i/cam-i/trigger',
      JSON.stringify({ schema: 'loupe/trigger@1', partId: 'T-1', requestId: 'plc-7' }),
      { qos: 1 },
    );
    const answers = await plc.waitFor('second answer', () => {
      const a = plc.json<Result>('/result').filter((r) => r.partId === 'T-1');
      return a.length >= 2 && a;
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0]).toMatchObject({ schema: 'loupe/result@1', verdict: 'pass' });
    expect(await inspected()).toBe(before + 1);
  });

  it('answers the same frame sent twice with the same result, inspecting once', async () => {
    const before = await inspected();
    const frame = await goodPart(8, 'png');
    await plc.client.publishAsync('loupe/line-i/cam-i/frame/F-2', frame, { qos: 1 });
    await plc.waitFor('first answer', () => plc.json<Result>('/result').some((r) => r.partId === 'F-2'));
    await plc.client.publishAsync('loupe/line-i/cam-i/frame/F-2', frame, { qos: 1 }); // as a broker resends it
    const answers = await plc.waitFor('second answer', () => {
      const a = plc.json<Result>('/result').filter((r) => r.partId === 'F-2');
      return a.length >= 2 && a;
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(await inspected()).toBe(before + 1);
  });

  it('answers a trigger whose frame never comes with review / missing_frame', async () => {
    // frameTimeoutMs is 5 s by default; this station has no camera
    await plc.client.publishAsync('loupe/line-i/cam-i/trigger', JSON.stringify({ partId: 'T-lost' }), { qos: 1 });
    const result = await plc.waitFor(
      'missing_frame',
      () => plc.json<Result>('/result').find((r) => r.partId === 'T-lost'),
      10_000,
    );
    expect(result).toMatchObject({ verdict: 'review', reasons: ['missing_frame'], score: null });
  });

  it('keeps a retained status with the station health', async () => {
    await post(loupe, 'H-1', await goodPart(10, 'png'));
    const status = await plc.waitFor('a status after the frame', () =>
      plc
        .json<Status>('/status')
        .reverse()
        .find((s) => s.lastFrameAgeMs !== null && s.lastFrameAgeMs !== undefined),
    );
    expect(status).toMatchObject({
      schema: 'loupe/status@1',
      state: 'online',
      modelLoaded: true,
      model: { id: 'default' },
      overloaded: false,
    });
    expect(status.queueDepth).toBeGreaterThanOrEqual(0);
    expect(status.outboxDepth).toBeGreaterThanOrEqual(0);
    const metrics = await (await fetch(new URL('/metrics', loupe.httpUrl))).text();
    for (const name of [
      'loupe_frames_total',
      'loupe_inference_seconds_bucket',
      'loupe_part_latency_seconds_bucket',
      'loupe_review_queue_depth',
      'loupe_outbox_depth',
      'loupe_broker_connected{station="cam-i"} 1',
    ]) {
      expect(metrics).toContain(name);
    }
  });
});

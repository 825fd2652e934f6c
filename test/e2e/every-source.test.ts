/**
 * The smoke layer, end to end: `loupe start` as an operator runs it, frames from HTTP, the watched
 * folder and MQTT, and a separate MQTT client reading results, on the embedded broker and on
 * Debian's Mosquitto (a missing Mosquitto skips that half locally and fails under CI=true). The
 * station's rules (part ids, overload, triggers, deadlines, recovery) are tested in process in
 * test/station/; here the real broker, model and HTTP server are the point.
 */
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, VerdictMessage } from '../../contract/payloads.ts';
import { keptImage } from '../../edge/src/evidence/files.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { freePort, mosquittoPath, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

interface Setup {
  loupe: LoupeProcess;
  dataDir: string;
  collector: Collector;
  inbox: string;
  cleanup: () => Promise<void>;
}

async function setUp(broker: 'embedded' | Mosquitto): Promise<Setup> {
  const dir = await tempDir('loupe-e2e-');
  const inbox = path.join(dir, 'inbox');
  const mqttPort = broker === 'embedded' ? await freePort() : broker.port;
  const { file } = await writeConfig(
    {
      line: 'line-e2e',
      dataDir: path.join(dir, 'data'),
      mqtt: broker === 'embedded' ? { port: mqttPort } : { url: broker.url },
      http: { port: 0 },
      stations: [
        {
          id: 'cam-1',
          audit: { share: 0 },
          review: { deadlineSeconds: 60 },
          ingest: { folder: { path: inbox, pollMs: 50 } },
        },
      ],
    },
    dir,
  );
  const loupe = await startLoupe('start', ['--config', file, '--mqtt-port', String(mqttPort)]);
  const collector = await Collector.connect(loupe.mqttUrl, ['loupe/line-e2e/cam-1/#']);
  await collector.stationOnline('loupe/line-e2e/cam-1');
  return {
    loupe,
    dataDir: path.join(dir, 'data'),
    collector,
    inbox,
    cleanup: async () => {
      await collector.close();
      await loupe.stop();
    },
  };
}

function resultFor(collector: Collector, partId: string) {
  return collector.waitFor(`result of ${partId}`, () =>
    collector.json<Result>('/result').find((r) => r.partId === partId),
  );
}

async function postFrame(loupe: LoupeProcess, partId: string, image: Buffer, type = 'image/jpeg') {
  return fetch(new URL(`/api/stations/cam-1/frames?partId=${partId}`, loupe.httpUrl), {
    method: 'POST',
    headers: { 'content-type': type },
    body: new Uint8Array(image),
  });
}

/**
 * Declares a body of `length` bytes and sends only the headers: a server that enforces its limit
 * answers 413 from the declared length, before reading a byte of the body.
 */
function postDeclaring(url: URL, length: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': length } },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += String(chunk)));
        response.on('end', () => {
          request.destroy();
          resolve({ status: response.statusCode ?? 0, body: text });
        });
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    request.flushHeaders();
  });
}

function frameFromEverySource(name: string, getSetup: () => Setup) {
  it(`${name}: a good and a defective part over HTTP, one from the folder, one over MQTT each get a result`, async () => {
    const { loupe, collector, inbox } = getSetup();
    const good = await postFrame(loupe, 'http-good-1', await goodPart(1));
    expect(good.status).toBe(200);
    const goodResult = (await good.json()) as Result;
    expect(goodResult).toMatchObject({ partId: 'http-good-1', verdict: 'pass', reasons: [] });

    const bad = await postFrame(loupe, 'http-bad-1', await defectivePart(1, 'missing'), 'image/jpeg');
    const badResult = (await bad.json()) as Result;
    expect(badResult.verdict).toBe('reject');
    expect(badResult.score).toBeGreaterThan(goodResult.score as number);

    await writeFile(path.join(inbox, 'folder-good-1.png'), await goodPart(2, 'png'));
    await collector.client.publishAsync('loupe/line-e2e/cam-1/frame/mqtt-bad-1', await defectivePart(2, 'missing'), {
      qos: 1,
    });

    expect((await resultFor(collector, 'http-good-1')).verdict).toBe('pass');
    expect((await resultFor(collector, 'http-bad-1')).verdict).toBe('reject');
    const folder = await resultFor(collector, 'folder-good-1');
    expect(folder).toMatchObject({ verdict: 'pass', source: 'folder' });
    const mqttResult = await resultFor(collector, 'mqtt-bad-1');
    expect(mqttResult).toMatchObject({ verdict: 'reject', source: 'mqtt' });
    for (const result of [goodResult, badResult, folder, mqttResult]) {
      expect(result.model.id).toBeTruthy();
      expect(result.thresholds.passBelow).toBeLessThanOrEqual(result.thresholds.rejectAbove);
      expect(result.timings.totalMs).toBeGreaterThan(0);
    }
    // The model's verdicts are final: each part also gets its verdict, decided by the model.
    const verdicts = await collector.waitFor('four verdicts', () => {
      const v = collector.json<VerdictMessage>('/verdict');
      return v.length >= 4 && v;
    });
    expect(verdicts.map((v) => [v.partId, v.verdict, v.decidedBy]).sort()).toEqual(
      [
        ['folder-good-1', 'pass', 'model'],
        ['http-bad-1', 'reject', 'model'],
        ['http-good-1', 'pass', 'model'],
        ['mqtt-bad-1', 'reject', 'model'],
      ].sort(),
    );
    const status = collector.messages.find((m) => m.topic.endsWith('/status') && m.retain);
    expect(JSON.parse(String(status?.payload))).toMatchObject({ state: 'online', station: 'cam-1' });
  });
}

describe('every ingest source on the embedded broker', () => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp('embedded');
  });
  afterAll(async () => setup?.cleanup());

  frameFromEverySource('embedded Aedes', () => setup);

  it('sends a truncated JPEG to review as unreadable_image, never passes it, and the next good frame still passes', async () => {
    const whole = await goodPart(3);
    const truncated = whole.subarray(0, Math.floor(whole.length * 0.6));
    const response = await postFrame(setup.loupe, 'truncated-1', truncated);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      partId: 'truncated-1',
      verdict: 'review',
      reasons: ['unreadable_image'],
      score: null,
    });
    const garbage = await postFrame(setup.loupe, 'garbage-1', Buffer.from('this is not an image at all'));
    expect(await garbage.json()).toMatchObject({ verdict: 'review', reasons: ['unreadable_image'] });
    const next = await postFrame(setup.loupe, 'after-truncated-1', whole);
    expect(await next.json()).toMatchObject({ verdict: 'pass' });
    // the unreadable part waits for a person: its review is retained on the broker
    const review = await setup.collector.waitFor('review of truncated-1', () =>
      setup.collector.messages.find((m) => m.topic.endsWith('/review/truncated-1') && m.payload.length > 0),
    );
    expect(JSON.parse(review.payload.toString())).toMatchObject({
      partId: 'truncated-1',
      reasons: ['unreadable_image'],
    });
    // and the bytes as they arrived are kept for that person, though no one could decode them
    const kept = (partId: string) => keptImage(path.join(setup.dataDir, 'images', 'line-e2e', 'cam-1'), partId);
    expect((await kept('truncated-1'))?.equals(truncated)).toBe(true);
    expect((await kept('garbage-1'))?.equals(Buffer.from('this is not an image at all'))).toBe(true);
  });

  it('answers malformed MQTT on the error topic and keeps running', async () => {
    const { collector } = setup;
    await collector.client.publishAsync('loupe/line-e2e/cam-1/trigger', '{not json', { qos: 1 });
    await collector.client.publishAsync(
      'loupe/line-e2e/cam-1/decision',
      JSON.stringify({ partId: 'x', decision: 'maybe', user: 'ana' }),
      { qos: 1 },
    );
    const errors = await collector.waitFor('two errors', () => {
      const e = collector.json<{ code: string; topic: string; message: string }>('/error');
      return e.length >= 2 && e;
    });
    expect(errors[0]).toMatchObject({ code: 'malformed_json', topic: 'loupe/line-e2e/cam-1/trigger' });
    expect(errors[1]).toMatchObject({ code: 'invalid_payload', topic: 'loupe/line-e2e/cam-1/decision' });
    expect(errors[1].message).toContain('decision');
    const after = await postFrame(setup.loupe, 'after-malformed-1', await goodPart(4));
    expect(after.status).toBe(200);
  });

  it('refuses an oversized upload with 413 and an unknown station with 404', async () => {
    const response = await postDeclaring(
      new URL('/api/stations/cam-1/frames?partId=too-big-1', setup.loupe.httpUrl),
      21 * 1024 * 1024,
    );
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({
      error: 'frame_too_large',
      partId: 'too-big-1',
      limitBytes: 20 * 1024 * 1024,
      message: expect.stringContaining(`at most ${20 * 1024 * 1024} bytes`),
    });
    const unknown = await fetch(new URL('/api/stations/nope/frames?partId=p1', setup.loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(await goodPart(5)),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'unknown_station' });
    const badId = await postFrame(setup.loupe, 'bad%2Fid', await goodPart(5));
    expect(badId.status).toBe(400);
  });

  it('answers a trigger with the frame that comes for it, and the same trigger again with the same result', async () => {
    const { collector } = setup;
    // this station has no camera: a trigger waits for the frame of its part id
    await collector.client.publishAsync(
      'loupe/line-e2e/cam-1/trigger',
      JSON.stringify({ partId: 'trig-1', requestId: 'r-trig-1' }),
      { qos: 1 },
    );
    await collector.client.publishAsync('loupe/line-e2e/cam-1/frame/trig-1', await goodPart(6), { qos: 1 });
    expect(await resultFor(collector, 'trig-1')).toMatchObject({ verdict: 'pass', requestId: 'r-trig-1' });
    // the same trigger (its requestId) again: answered, not inspected again
    await collector.client.publishAsync(
      'loupe/line-e2e/cam-1/trigger',
      JSON.stringify({ partId: 'trig-1', requestId: 'r-trig-1' }),
      { qos: 1 },
    );
    await collector.waitFor(
      'second answer to trig-1',
      () => collector.json<Result>('/result').filter((r) => r.partId === 'trig-1').length >= 2,
    );
    const answers = collector.json<Result>('/result').filter((r) => r.partId === 'trig-1');
    expect(answers[1]).toEqual(answers[0]);
  });
});

const binary = mosquittoPath(); // throws under CI=true when missing

describe.skipIf(!binary)('every ingest source on Mosquitto', () => {
  let mosquitto: Mosquitto;
  let setup: Setup;
  beforeAll(async () => {
    mosquitto = await startMosquitto(binary as string);
    setup = await setUp(mosquitto);
  });
  afterAll(async () => {
    await setup?.cleanup();
    await mosquitto?.stop();
  });

  frameFromEverySource('Debian Mosquitto', () => setup);
});

/**
 * Everything a station says, checked against the schema files integrators read: a full run with a
 * pass, a reject, reviews decided by a person over HTTP and over MQTT, a timeout, a trigger with its
 * ack, a part id used again, and every kind of refusal. Each message is validated against
 * contract/schemas/<kind>.v1.json (the files, not the code's schemas), and every kind must be there.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type Running } from '../../cli/run.ts';
import { checkConfig } from '../../config/load.ts';
import type { ErrorMessage, Result, TriggerAck, VerdictMessage } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { repoRoot } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { ADMIN, login, type Client } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const LIMIT = 300_000;
const BASE = 'loupe/cap/cam-1';

const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const schemaDir = path.join(repoRoot, 'contract', 'schemas');
const validators = new Map(
  readdirSync(schemaDir).map((file) => [
    file.replace('.v1.json', ''),
    ajv.compile(JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8')) as object),
  ]),
);

/** The schema of a message by its topic; null for frames (raw image bytes). */
function kindOf(topic: string): string | null {
  const [, , , kind, rest] = topic.split('/');
  if (kind === 'trigger') return rest === 'ack' ? 'trigger-ack' : 'trigger';
  if (kind === 'frame') return null;
  return kind;
}

describe('every message a station publishes', () => {
  let running: Running;
  let collector: Collector;
  let manager: Client;

  beforeAll(async () => {
    const dir = await tempDir('loupe-capture-');
    const config = checkConfig({
      line: 'cap',
      dataDir: path.join(dir, 'data'),
      mqtt: { port: await freePort() },
      http: { port: 0, bodyLimitBytes: LIMIT },
      dashboard: { admin: { user: ADMIN.name, password: ADMIN.password } },
      stations: [
        // everything passes until the thresholds are changed below
        {
          id: 'cam-1',
          thresholds: { passBelow: 1e9, rejectAbove: 2e9 },
          audit: { share: 0 },
          review: { deadlineSeconds: 600 },
          queue: { workers: 1 },
          trigger: { frameTimeoutMs: 10_000 },
        },
        // every part is a review, and its deadline passes at once
        {
          id: 'cam-t',
          thresholds: { passBelow: 0, rejectAbove: 1e9 },
          audit: { share: 0 },
          review: { deadlineSeconds: 0.3, defaultAction: 'hold' },
          queue: { workers: 1 },
        },
      ],
    });
    running = await run(config, { broker: true, edge: true, dashboard: true }, pino({ level: 'silent' }));
    collector = await Collector.connect(running.mqttUrl, ['loupe/cap/#']);
    await collector.stationOnline(BASE);
    await collector.stationOnline('loupe/cap/cam-t');
    manager = await login(running.httpUrl);
  }, 60_000);

  afterAll(async () => {
    await collector?.close();
    await running?.stop();
  });

  const post = async (partId: string, image: Buffer, station = 'cam-1') => {
    const response = await fetch(new URL(`/api/stations/${station}/frames?partId=${partId}`, running.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(image),
    });
    return { status: response.status, body: (await response.json()) as Result & { error?: string; message?: string } };
  };
  /** what the test itself sends (some of it invalid on purpose): not the station's to answer for */
  const sent = new Set<string>();
  const publish = (suffix: string, payload: string | Buffer) => {
    sent.add(payload.toString());
    return collector.client.publishAsync(`${BASE}/${suffix}`, payload, { qos: 1 });
  };
  const resultsOf = (partId: string) => collector.json<Result>('/result').filter((r) => r.partId === partId);
  const verdictOf = (partId: string) =>
    collector.waitFor(`verdict of ${partId}`, () =>
      collector.json<VerdictMessage>('/verdict').find((v) => v.partId === partId),
    );
  const errorWith = (what: string, predicate: (e: ErrorMessage) => boolean) =>
    collector.waitFor(what, () => collector.json<ErrorMessage>('/error').find(predicate));
  const approve = async (passBelow: number, rejectAbove: number) =>
    expect((await manager.post('/api/stations/cam-1/thresholds', { passBelow, rejectAbove })).status).toBe(201);

  it('validate against their schema files, every kind present', async () => {
    // pass, over HTTP
    expect((await post('P-1', await goodPart(1))).body).toMatchObject({ verdict: 'pass' });
    // a trigger with a requestId: acknowledged at once, its frame over MQTT, the result echoes it
    await publish('trigger', JSON.stringify({ partId: 'T-1', requestId: 'req-T-1' }));
    const ack = await collector.waitFor('trigger ack', () =>
      collector.json<TriggerAck>('/trigger/ack').find((a) => a.partId === 'T-1'),
    );
    expect(ack).toMatchObject({ requestId: 'req-T-1', state: 'accepted' });
    const frameT1 = await goodPart(2);
    await publish('frame/T-1', frameT1);
    const t1 = await collector.waitFor('result of T-1', () => resultsOf('T-1')[0]);
    expect(t1).toMatchObject({ verdict: 'pass', requestId: 'req-T-1' });
    expect(await verdictOf('T-1')).toMatchObject({ decidedBy: 'model', requestId: 'req-T-1' });
    // the same frame delivered again: the same result again, not a second inspection
    await publish('frame/T-1', frameT1);
    await collector.waitFor('T-1 answered again', () => resultsOf('T-1').length === 2);
    expect(resultsOf('T-1')[1]).toEqual(t1);

    // reject, over HTTP
    await approve(0, 0);
    expect((await post('X-1', await defectivePart(1, 'scratch'))).body).toMatchObject({ verdict: 'reject' });
    // a new frame under an id already answered is inspected, and says what it replaces
    const replaced = (await post('P-1', await goodPart(3))).body;
    expect(replaced).toMatchObject({ verdict: 'reject', replaces: { verdict: 'pass' } });

    // reviews: one decided over HTTP (the dashboard), one over MQTT with a requestId, one by timeout
    await approve(0, 1e9);
    for (const id of ['R-1', 'R-2', 'R-3'])
      expect((await post(id, await goodPart(4))).body).toMatchObject({ verdict: 'review' });
    for (let i = 0; i < 200 && ((await (await manager.get('/api/reviews')).json()) as unknown[]).length < 3; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await manager.post('/api/reviews/cap/cam-1/R-1/decision', { decision: 'accept' })).status).toBe(202);
    expect(await verdictOf('R-1')).toMatchObject({ verdict: 'pass', decidedBy: 'human', user: ADMIN.name });
    await publish(
      'decision',
      JSON.stringify({ partId: 'R-2', decision: 'reject', category: 'scratch', user: 'ana', requestId: 'req-D-2' }),
    );
    expect(await verdictOf('R-2')).toMatchObject({ verdict: 'reject', decidedBy: 'human', requestId: 'req-D-2' });
    expect((await post('TO-1', await goodPart(5), 'cam-t')).body).toMatchObject({ verdict: 'review' });
    expect(await verdictOf('TO-1')).toMatchObject({ verdict: 'hold', decidedBy: 'timeout' });

    // refusals: each names the part and what was wrong
    await publish('trigger', '{partId');
    await errorWith('malformed JSON', (e) => e.code === 'malformed_json');
    await publish('decision', JSON.stringify({ partId: 'R-3', decision: 'ok', user: 'ana', requestId: 'req-ok' }));
    expect(await errorWith('decision ok', (e) => e.requestId === 'req-ok')).toMatchObject({
      code: 'invalid_payload',
      partId: 'R-3',
      message: 'part R-3: decision must be "accept" or "reject"',
    });
    await publish('decision', JSON.stringify({ partId: 'NONE-1', decision: 'accept', user: 'ana' }));
    expect(await errorWith('unknown part', (e) => e.code === 'unknown_part')).toMatchObject({ partId: 'NONE-1' });
    await publish('decision', JSON.stringify({ partId: 'R-1', decision: 'reject', user: 'ben' }));
    expect(await errorWith('conflict', (e) => e.code === 'conflict')).toMatchObject({ partId: 'R-1' });
    // a decision that says it corrects replaces the one taken: a corrected verdict, which says what it replaces
    await publish(
      'decision',
      JSON.stringify({
        partId: 'R-1',
        decision: 'reject',
        category: 'dent',
        user: 'ben',
        correction: true,
        requestId: 'req-fix',
      }),
    );
    const corrected = await collector.waitFor('the corrected verdict', () =>
      collector.json<VerdictMessage>('/verdict').find((v) => v.partId === 'R-1' && v.corrects),
    );
    expect(corrected).toMatchObject({
      verdict: 'reject',
      category: 'dent',
      user: 'ben',
      requestId: 'req-fix',
      corrects: { verdict: 'pass', decidedBy: 'human', user: ADMIN.name },
    });
    await publish('frame/BIG-1', Buffer.alloc(LIMIT + 1, 7));
    expect(await errorWith('frame too large', (e) => e.code === 'frame_too_large')).toMatchObject({
      partId: 'BIG-1',
      message: expect.stringContaining(`the limit is ${LIMIT} bytes`),
    });
    await publish('frame/R-3', await goodPart(6)); // a different frame while R-3 waits for a person
    expect(await errorWith('part id in use', (e) => e.code === 'duplicate_part_id')).toMatchObject({ partId: 'R-3' });
    await publish('frame/bad id', await goodPart(6));
    await errorWith('bad part id', (e) => e.code === 'invalid_part_id');
    expect(resultsOf('BIG-1')).toEqual([]);

    // the status goes out with every threshold change; wait for all in flight to arrive
    await collector.waitFor('all verdicts', () => collector.json<VerdictMessage>('/verdict').length >= 7);
    const seen = new Map<string, number>();
    for (const message of collector.messages) {
      const kind = kindOf(message.topic);
      if (kind === null || message.payload.length === 0 || sent.has(message.payload.toString())) continue; // frames; a review's clearing; the test's own
      const validate = validators.get(kind);
      expect(validate, `a schema file for ${message.topic}`).toBeDefined();
      const payload = JSON.parse(message.payload.toString()) as unknown;
      expect(
        validate?.(payload),
        `${message.topic} ${message.payload.toString()}\n${JSON.stringify(validate?.errors)}`,
      ).toBe(true);
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }
    // decisions: the dashboard's, for the decision made over HTTP; log: the defect log's events for the plant
    expect([...seen.keys()].sort()).toEqual([
      'decision',
      'error',
      'log',
      'result',
      'review',
      'status',
      'trigger-ack',
      'verdict',
    ]);
    const verdicts = collector.json<VerdictMessage>('/verdict');
    expect(new Set(verdicts.map((v) => `${v.decidedBy}:${v.verdict}`))).toEqual(
      new Set(['model:pass', 'model:reject', 'human:pass', 'human:reject', 'timeout:hold']),
    );
    const codes = (
      validators.get('error')?.schema as { properties: { code: { anyOf: { const: string }[] } } }
    ).properties.code.anyOf.map((c) => c.const);
    // storage_full needs a full disk: test/integration/disk-full.test.ts and npm run soak make one
    expect(new Set(collector.json<ErrorMessage>('/error').map((e) => e.code))).toEqual(
      new Set(codes.filter((code) => code !== 'storage_full')),
    );
  }, 90_000);

  it('answers HTTP refusals with the limit, the content types and the part', async () => {
    const tooLarge = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(
        new URL('/api/stations/cam-1/frames?partId=H-1', running.httpUrl),
        { method: 'POST', headers: { 'content-type': 'image/jpeg', 'content-length': LIMIT + 1 } },
        (response) => {
          let text = '';
          response.on('data', (chunk) => (text += String(chunk)));
          response.on('end', () => {
            request.destroy();
            resolve({ status: response.statusCode ?? 0, body: text });
          });
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => error.code !== 'ECONNRESET' && reject(error));
      request.flushHeaders();
    });
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body)).toMatchObject({
      error: 'frame_too_large',
      partId: 'H-1',
      limitBytes: LIMIT,
      message: expect.stringContaining(`at most ${LIMIT} bytes`),
    });
    const text = await fetch(new URL('/api/stations/cam-1/frames?partId=H-2', running.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ partId: 'H-2', message: expect.stringContaining('image/jpeg') });
    const badId = await fetch(new URL('/api/stations/cam-1/frames?partId=a%20b', running.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(await goodPart(1)),
    });
    expect(badId.status).toBe(400);
    expect(await badId.json()).toMatchObject({ partId: 'a b', message: expect.stringContaining('partId "a b"') });
    // a different frame while R-3 waits for a person: 409, naming it
    const inUse = await post('R-3', await goodPart(7));
    expect(inUse).toMatchObject({ status: 409, body: { error: 'duplicate_part_id', partId: 'R-3' } });
  }, 30_000);
});

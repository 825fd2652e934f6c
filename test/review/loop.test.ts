/**
 * The review loop through the real product: `loupe start` (embedded broker), parts that all need a
 * person, decisions from the dashboard API and over MQTT, a deadline that passes, and a SIGKILL.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorMessage, Result, Review, VerdictMessage } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { freePort } from '../support/system.ts';
import { person } from '../support/session.ts';
import { tempDir } from '../support/temp.ts';

const everythingToReview = { passBelow: 0, rejectAbove: 1e9 };

async function product(station: object, dir?: string) {
  const where = dir ?? (await tempDir('loupe-loop-'));
  const mqttPort = await freePort();
  const { file } = await writeConfig(
    {
      line: 'line-r',
      dataDir: path.join(where, 'data'),
      mqtt: { port: mqttPort },
      http: { port: 0 },
      stations: [{ id: 'cam-r', thresholds: everythingToReview, ...station }],
    },
    where,
  );
  return { file, dir: where, mqttPort };
}

async function post(loupe: LoupeProcess, partId: string): Promise<Result> {
  const response = await fetch(new URL(`/api/stations/cam-r/frames?partId=${partId}`, loupe.httpUrl), {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(await goodPart(1, 'png')),
  });
  const result = (await response.json()) as Result;
  expect(result).toMatchObject({ partId, verdict: 'review', reasons: ['borderline'] });
  return result;
}

const decisionApi = (partId: string, action = 'decision') => `/api/reviews/line-r/cam-r/${partId}/${action}`;
const verdictsOf = (c: Collector, partId: string) =>
  c.json<VerdictMessage>('/verdict').filter((v) => v.partId === partId);

let running: LoupeProcess[] = [];
let collectors: Collector[] = [];
afterEach(async () => {
  await Promise.all(collectors.map((c) => c.close()));
  await Promise.all(running.map((l) => l.stop()));
  running = [];
  collectors = [];
});

/** `loupe start` with a separate MQTT client on everything the station says; both stopped after the test. */
async function startWithPlc(file: string): Promise<{ loupe: LoupeProcess; plc: Collector }> {
  const loupe = await startLoupe('start', ['--config', file]);
  running.push(loupe);
  const plc = await Collector.connect(loupe.mqttUrl, ['loupe/line-r/cam-r/#']);
  collectors.push(plc);
  await plc.stationOnline('loupe/line-r/cam-r');
  return { loupe, plc };
}

describe('the review loop', () => {
  it('applies the default action when nobody decides in time, published as decided by timeout', async () => {
    const { file } = await product({ review: { deadlineSeconds: 1, defaultAction: 'hold' } });
    const { loupe, plc } = await startWithPlc(file);
    await post(loupe, 'LATE-1');
    const verdict = await plc.waitFor('timeout verdict', () => verdictsOf(plc, 'LATE-1')[0], 10_000);
    expect(verdict).toMatchObject({ verdict: 'hold', decidedBy: 'timeout' });
    expect(verdict.user).toBeUndefined();
    // the retained review is cleared
    expect(plc.messages.some((m) => m.topic.endsWith('/review/LATE-1') && m.payload.length === 0)).toBe(true);
  });

  it('lets one technician claim a part; a second gets 409 with who holds it and cannot decide', async () => {
    const { file } = await product({});
    const { loupe, plc } = await startWithPlc(file);
    await post(loupe, 'CLAIM-1');
    await plc.waitFor('review published', () => plc.json<Review>('/review/CLAIM-1')[0]);
    // the dashboard's own subscription may see it a moment later: 404 until then
    const ana = await person(loupe.httpUrl, 'ana');
    const ben = await person(loupe.httpUrl, 'ben');
    let claim: Response;
    for (let i = 0; ; i++) {
      claim = await ana.post(decisionApi('CLAIM-1', 'claim'));
      if (claim.status !== 404 || i > 50) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(claim.status).toBe(200);
    const second = await ben.post(decisionApi('CLAIM-1', 'claim'));
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ error: 'claimed', holder: 'ana' });
    const bensDecision = await ben.post(decisionApi('CLAIM-1'), { decision: 'accept' });
    expect(bensDecision.status).toBe(409);
    const badCategory = await ana.post(decisionApi('CLAIM-1'), { decision: 'reject', category: 'rust' });
    expect(badCategory.status).toBe(400);
    const anasDecision = await ana.post(decisionApi('CLAIM-1'), {
      decision: 'reject',
      category: 'scratch',
      note: 'deep',
    });
    expect(anasDecision.status).toBe(202);
    const verdict = await plc.waitFor('human verdict', () => verdictsOf(plc, 'CLAIM-1')[0]);
    expect(verdict).toMatchObject({
      verdict: 'reject',
      decidedBy: 'human',
      user: 'ana',
      category: 'scratch',
      note: 'deep',
    });
  });

  it('takes the same MQTT decision twice as one, and refuses a conflicting one with the reason', async () => {
    const { file } = await product({});
    const { loupe, plc: hmi } = await startWithPlc(file);
    await post(loupe, 'HMI-1');
    const decision = JSON.stringify({ partId: 'HMI-1', decision: 'accept', user: 'line-hmi' });
    await hmi.client.publishAsync('loupe/line-r/cam-r/decision', decision, { qos: 1 });
    await hmi.client.publishAsync('loupe/line-r/cam-r/decision', decision, { qos: 1 });
    await hmi.client.publishAsync(
      'loupe/line-r/cam-r/decision',
      JSON.stringify({ partId: 'HMI-1', decision: 'reject', user: 'someone-else' }),
      { qos: 1 },
    );
    const error = await hmi.waitFor('conflict', () =>
      hmi.json<ErrorMessage>('/error').find((e) => e.partId === 'HMI-1'),
    );
    expect(error).toMatchObject({ code: 'conflict', message: 'part HMI-1 was already decided by line-hmi as pass' });
    expect(verdictsOf(hmi, 'HMI-1')).toHaveLength(1);
    expect(verdictsOf(hmi, 'HMI-1')[0]).toMatchObject({ verdict: 'pass', decidedBy: 'human', user: 'line-hmi' });
  });

  it('loses no open review and decides nothing twice across a SIGKILL', async () => {
    const { file, mqttPort } = await product({ review: { deadlineSeconds: 600 } });
    let loupe = await startLoupe('start', ['--config', file]);
    const firstAnswers = new Map<string, Result>();
    for (const id of ['K-1', 'K-2', 'K-3']) firstAnswers.set(id, await post(loupe, id));
    const before = await Collector.connect(loupe.mqttUrl, ['loupe/line-r/cam-r/#']);
    await before.stationOnline('loupe/line-r/cam-r');
    await before.client.publishAsync(
      'loupe/line-r/cam-r/decision',
      JSON.stringify({ partId: 'K-1', decision: 'reject', category: 'crack', user: 'ana' }),
      { qos: 1 },
    );
    await before.waitFor('K-1 decided', () => verdictsOf(before, 'K-1')[0]);
    await before.close();
    await loupe.stop('SIGKILL'); // the embedded broker dies with it: its retained messages are gone

    loupe = await startLoupe('start', ['--config', file, '--mqtt-port', String(mqttPort)]);
    running.push(loupe);
    const after = await Collector.connect(loupe.mqttUrl, ['loupe/line-r/cam-r/#']);
    collectors.push(after);
    // K-2 and K-3 are waiting again, published anew by the station; K-1 is not
    const pending = await after.waitFor('two pending reviews', () => {
      const ids = new Set(
        after
          .json<Review>('/review/K-2')
          .concat(after.json<Review>('/review/K-3'))
          .map((r) => r.partId),
      );
      return ids.size === 2 && ids;
    });
    expect([...pending].sort()).toEqual(['K-2', 'K-3']);
    expect(after.json<Review>('/review/K-1')).toEqual([]);
    // a conflicting decision on K-1 is refused: the decision before the kill stands
    await after.client.publishAsync(
      'loupe/line-r/cam-r/decision',
      JSON.stringify({ partId: 'K-1', decision: 'accept', user: 'ben' }),
      { qos: 1 },
    );
    expect(
      await after.waitFor('conflict on K-1', () => after.json<ErrorMessage>('/error').find((e) => e.partId === 'K-1')),
    ).toMatchObject({ code: 'conflict' });
    // the same frame delivered again, for a part still under review or already decided, is not
    // inspected again: the answer is the first one, to the millisecond
    for (const id of ['K-3', 'K-1']) {
      const again = await fetch(new URL(`/api/stations/cam-r/frames?partId=${id}`, loupe.httpUrl), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(await goodPart(1, 'png')),
      });
      expect(await again.json()).toEqual(firstAnswers.get(id));
    }
    await after.client.publishAsync(
      'loupe/line-r/cam-r/decision',
      JSON.stringify({ partId: 'K-2', decision: 'accept', user: 'ana' }),
      { qos: 1 },
    );
    expect(await after.waitFor('K-2 decided', () => verdictsOf(after, 'K-2')[0])).toMatchObject({
      verdict: 'pass',
      decidedBy: 'human',
    });
    expect(verdictsOf(after, 'K-1')).toEqual([]);
    expect(verdictsOf(after, 'K-3')).toEqual([]);
  });
});

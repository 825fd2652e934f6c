/**
 * Who may speak on the embedded broker, through the real `loupe start`: users from the config,
 * roles and grants, decisions recorded under the authenticated MQTT identity, anonymous clients
 * only where the config says so, and malformed topics refused at the broker.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, Review, VerdictMessage } from '../../contract/payloads.ts';
import { hashSecret } from '../../broker/access.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const BASE = 'loupe/line-s/cam-a';

/** Connects as `username`; resolves with the client, or with the broker's refusal. */
function connect(
  url: string,
  username?: string,
  password?: string,
): Promise<{ client: MqttClient } | { refused: string }> {
  const client = mqtt.connect(url, {
    username,
    password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `t-${Math.random().toString(16).slice(2)}`,
  });
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ client }));
    client.once('error', (error) => {
      client.end(true);
      resolve({ refused: error.message });
    });
  });
}

async function as(url: string, username: string, password: string): Promise<MqttClient> {
  const outcome = await connect(url, username, password);
  if ('refused' in outcome) throw new Error(`${username} refused: ${outcome.refused}`);
  return outcome.client;
}

/** Publishes at QoS 1: `acked` when the broker took it, `disconnected` when it refused it. */
function publish(client: MqttClient, topic: string, payload: string | Buffer): Promise<'acked' | 'disconnected'> {
  return new Promise((resolve) => {
    client.once('close', () => resolve('disconnected'));
    client.publish(topic, payload, { qos: 1 }, (error) => resolve(error ? 'disconnected' : 'acked'));
  });
}

describe('the embedded broker with users', () => {
  let loupe: LoupeProcess;
  let url: string;
  let watcher: Collector;
  const secrets = {
    plc: 'plc-secret-123',
    hmi: 'hmi-secret-123',
    other: 'other-secret-123',
    watch: 'watch-secret-123',
  };

  beforeAll(async () => {
    const dir = await tempDir('loupe-broker-acl-');
    await writeFile(path.join(dir, 'hmi.secret'), `${secrets.hmi}\n`, { mode: 0o600 });
    const { file } = await writeConfig(
      {
        line: 'line-s',
        dataDir: path.join(dir, 'data'),
        mqtt: {
          port: await freePort(),
          users: [
            { name: 'plc-1', role: 'plc', stations: ['cam-a'], passwordEnv: 'TEST_PLC_PASSWORD' },
            { name: 'hmi-1', role: 'observer', decisions: ['cam-a'], passwordFile: path.join(dir, 'hmi.secret') },
            {
              name: 'hmi-2',
              role: 'observer',
              stations: ['cam-a'],
              decisions: ['cam-b'],
              passwordHash: await hashSecret(secrets.other),
            },
            { name: 'watch', role: 'observer', stations: ['*'], passwordHash: await hashSecret(secrets.watch) },
          ],
        },
        http: { port: 0 },
        // Every part goes to review: nothing passes below 0, nothing is rejected by the model.
        stations: [{ id: 'cam-a', thresholds: { passBelow: 0, rejectAbove: 1e9 } }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file], { TEST_PLC_PASSWORD: secrets.plc });
    url = loupe.mqttUrl;
    watcher = await Collector.connect(url, ['loupe/#'], { username: 'watch', password: secrets.watch });
    await watcher.stationOnline(BASE);
  });
  afterAll(async () => {
    await watcher?.close();
    await loupe?.stop();
  });

  it('refuses anonymous clients, unknown users and wrong passwords', async () => {
    expect(await connect(url)).toHaveProperty('refused');
    expect(await connect(url, 'nobody', 'whatever-123')).toHaveProperty('refused');
    expect(await connect(url, 'plc-1', 'not-the-password')).toHaveProperty('refused');
    const plc = await connect(url, 'plc-1', secrets.plc);
    expect(plc).toHaveProperty('client');
    if ('client' in plc) await plc.client.endAsync();
  });

  it('lets a PLC send frames to its station, and nothing else', async () => {
    const plc = await as(url, 'plc-1', secrets.plc);
    expect(await publish(plc, `${BASE}/frame/ACL-1`, await goodPart(1))).toBe('acked');
    await watcher.waitFor('result of ACL-1', () => watcher.json<Result>('/result').find((r) => r.partId === 'ACL-1'));
    await plc.endAsync();
    const forged: VerdictMessage = {
      schema: 'loupe/verdict@1',
      line: 'line-s',
      station: 'cam-a',
      partId: 'ACL-1',
      verdict: 'pass',
      decidedBy: 'human',
      user: 'plc-1',
      score: 0,
      at: new Date().toISOString(),
    } as VerdictMessage;
    for (const [topic, payload] of [
      [`${BASE}/verdict`, JSON.stringify(forged)],
      [`${BASE}/result`, '{}'],
      [`${BASE}/status`, '{"state":"offline"}'],
      [`${BASE}/decision`, JSON.stringify({ partId: 'ACL-1', decision: 'accept', user: 'boss' })],
      [`${BASE}/decision/plc-1`, JSON.stringify({ partId: 'ACL-1', decision: 'accept', user: 'plc-1' })],
      ['loupe/line-s/cam-b/frame/ACL-2', 'x'],
    ]) {
      const client = await as(url, 'plc-1', secrets.plc);
      expect(await publish(client, topic, payload), topic).toBe('disconnected');
      client.end(true);
    }
    expect(
      watcher.messages.filter((m) => m.topic === `${BASE}/verdict` && m.payload.includes('"user":"plc-1"')),
    ).toEqual([]);
  });

  it('takes a decision only from a user granted decisions for that station, recorded under that user', async () => {
    const plc = await as(url, 'plc-1', secrets.plc);
    await publish(plc, `${BASE}/frame/ACL-3`, await goodPart(3));
    await plc.endAsync();
    await watcher.waitFor('review of ACL-3', () => watcher.json<Review>('/review/ACL-3')[0]);
    const accept = (user: string) => JSON.stringify({ partId: 'ACL-3', decision: 'accept', user });
    // hmi-2 may read cam-a but decides only at cam-b; hmi-1 may not speak for anyone else.
    for (const [who, secret, topic] of [
      ['hmi-2', secrets.other, `${BASE}/decision/hmi-2`],
      ['hmi-1', secrets.hmi, `${BASE}/decision/hmi-2`],
      ['hmi-1', secrets.hmi, `${BASE}/decision`],
    ]) {
      const client = await as(url, who, secret);
      expect(await publish(client, topic, accept('boss')), `${who} on ${topic}`).toBe('disconnected');
      client.end(true);
    }
    const hmi = await as(url, 'hmi-1', secrets.hmi);
    expect(await publish(hmi, `${BASE}/decision/hmi-1`, accept('boss'))).toBe('acked');
    await hmi.endAsync();
    const verdict = await watcher.waitFor('verdict of ACL-3', () =>
      watcher.json<VerdictMessage>('/verdict').find((v) => v.partId === 'ACL-3'),
    );
    expect(verdict).toMatchObject({ verdict: 'pass', decidedBy: 'human', user: 'hmi-1' });
  });

  it('does not let a client read a station it is not granted', async () => {
    const hmi = await as(url, 'hmi-1', secrets.hmi);
    expect((await hmi.subscribeAsync(`${BASE}/review/+`, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    await expect(hmi.subscribeAsync('loupe/line-s/cam-b/result', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await expect(hmi.subscribeAsync('loupe/+/+/result', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await hmi.endAsync();
  });
});

describe('the embedded broker of the loopback demo', () => {
  let loupe: LoupeProcess;
  beforeAll(async () => {
    const dir = await tempDir('loupe-broker-demo-');
    const { file } = await writeConfig(
      {
        line: 'line-d',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: await freePort() },
        http: { port: 0 },
        stations: [{ id: 'cam-d' }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
  });
  afterAll(() => loupe?.stop());

  it('lets anonymous clients in on loopback, and refuses a frame with an empty part id without the station dropping', async () => {
    const plc = await Collector.connect(loupe.mqttUrl, ['loupe/line-d/cam-d/#']);
    await plc.stationOnline('loupe/line-d/cam-d');
    const attacker = await connect(loupe.mqttUrl);
    if (!('client' in attacker)) throw new Error(attacker.refused);
    expect(await publish(attacker.client, 'loupe/line-d/cam-d/frame/', 'x')).toBe('disconnected');
    for (const topic of ['loupe/line-d//cam-d/frame/P', 'loupe/line-d/cam-d/frame/A/']) {
      const again = await connect(loupe.mqttUrl);
      if (!('client' in again)) throw new Error(again.refused);
      expect(await publish(again.client, topic, 'x'), topic).toBe('disconnected');
    }
    await plc.client.publishAsync('loupe/line-d/cam-d/frame/OK-1', await goodPart(1), { qos: 1 });
    await plc.waitFor('result of OK-1', () => plc.json<Result>('/result').find((r) => r.partId === 'OK-1'));
    await plc.close();
    expect(loupe.logs.filter((line) => line.includes('mqtt broker unreachable'))).toEqual([]);
    expect(
      loupe.logs.filter((line) => line.includes('"station":"cam-d"') && line.includes('"msg":"mqtt connected"')),
    ).toHaveLength(1);
  });
});

/**
 * The contract against Debian's Mosquitto with the ACL file docs/security.md gives
 * (docs/mosquitto/loupe.acl, used as it is) and a password file made by mosquitto_passwd: a client
 * without the grant cannot decide, trigger or forge; a decision is recorded under the MQTT user that
 * was allowed to write it.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, Review, VerdictMessage } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { mosquittoPath, requireSystem, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const binary = mosquittoPath();
const passwd = requireSystem('mosquitto_passwd', ['mosquitto_passwd'], 'apt-get install mosquitto');
const suite = binary && passwd ? describe : describe.skip;
const BASE = 'loupe/line-1/station-1';
const USERS = ['station-1', 'plc-1', 'hmi-1', 'dashboard', 'observer', 'stranger'];
const secret = (user: string) => `${user}-secret-123`;

suite('Mosquitto with the documented ACL', () => {
  let broker: Mosquitto;
  let loupe: LoupeProcess;
  let watcher: Collector;
  const clients: MqttClient[] = [];
  const as = async (user: string) => {
    const client = await mqtt.connectAsync(broker.url, {
      username: user,
      password: secret(user),
      reconnectPeriod: 0,
      clientId: `${user}-${Math.random().toString(16).slice(2)}`,
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    const dir = await tempDir('loupe-mosquitto-acl-');
    const passwords = path.join(dir, 'loupe.passwd');
    for (const [index, user] of USERS.entries())
      execFileSync(passwd as string, [...(index === 0 ? ['-c'] : []), '-b', passwords, user, secret(user)]);
    broker = await startMosquitto(binary as string, [
      'allow_anonymous false',
      `password_file ${passwords}`,
      `acl_file ${path.join(repoRoot, 'docs', 'mosquitto', 'loupe.acl')}`,
    ]);
    const { file } = await writeConfig({
      line: 'line-1',
      dataDir: path.join(dir, 'data'),
      mqtt: { url: broker.url, username: 'station-1' },
      http: { port: 0 },
      // Every part goes to review: nothing passes below 0, nothing is rejected by the model.
      stations: [{ id: 'station-1', thresholds: { passBelow: 0, rejectAbove: 1e9 } }],
    });
    loupe = await startLoupe('edge', ['--config', file], { LOUPE_MQTT_PASSWORD: secret('station-1') });
    watcher = await Collector.connect(broker.url, ['loupe/#'], { username: 'observer', password: secret('observer') });
    await watcher.stationOnline(BASE);
  });
  afterAll(async () => {
    for (const client of clients) await client.endAsync(true);
    await watcher?.close();
    await loupe?.stop();
    await broker?.stop();
  });

  it('refuses anonymous clients', async () => {
    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })).rejects.toThrow();
  });

  it('lets the PLC send frames, and drops frames and triggers from a user without the grant', async () => {
    const stranger = await as('stranger');
    await stranger.publishAsync(`${BASE}/frame/FORGED-1`, await goodPart(1), { qos: 1 });
    await stranger.publishAsync(`${BASE}/trigger`, JSON.stringify({ partId: 'FORGED-2' }), { qos: 1 });
    const plc = await as('plc-1');
    await plc.publishAsync(`${BASE}/frame/M-1`, await goodPart(2), { qos: 1 });
    await watcher.waitFor('result of M-1', () => watcher.json<Result>('/result').find((r) => r.partId === 'M-1'));
    expect(watcher.json<Result>('/result').filter((r) => r.partId.startsWith('FORGED'))).toEqual([]);
  });

  it('takes a decision only on …/decision/{user} from the user granted it, and records that user', async () => {
    const plc = await as('plc-1');
    await plc.publishAsync(`${BASE}/frame/M-2`, await goodPart(3), { qos: 1 });
    await watcher.waitFor('review of M-2', () => watcher.json<Review>('/review/M-2')[0]);
    const reject = (user: string) => JSON.stringify({ partId: 'M-2', decision: 'reject', category: 'scratch', user });
    // Each of these would reject the part if it got through; the broker drops them all.
    await plc.publishAsync(`${BASE}/decision/plc-1`, reject('plc-1'), { qos: 1 });
    await plc.publishAsync(`${BASE}/decision`, reject('boss'), { qos: 1 });
    const stranger = await as('stranger');
    await stranger.publishAsync(`${BASE}/decision/stranger`, reject('stranger'), { qos: 1 });
    const hmi = await as('hmi-1');
    await hmi.publishAsync(`${BASE}/decision`, reject('boss'), { qos: 1 });
    await hmi.publishAsync(`${BASE}/decision/plc-1`, reject('plc-1'), { qos: 1 });
    await hmi.publishAsync(
      `${BASE}/decision/hmi-1`,
      JSON.stringify({ partId: 'M-2', decision: 'accept', user: 'boss' }),
      { qos: 1 },
    );
    const verdict = await watcher.waitFor('verdict of M-2', () =>
      watcher.json<VerdictMessage>('/verdict').find((v) => v.partId === 'M-2'),
    );
    expect(verdict).toMatchObject({ verdict: 'pass', decidedBy: 'human', user: 'hmi-1' });
  });

  it('drops results, verdicts and status forged by anyone but the station', async () => {
    const forged = JSON.stringify({
      schema: 'loupe/verdict@1',
      line: 'line-1',
      station: 'station-1',
      partId: 'FORGED-3',
      verdict: 'pass',
      decidedBy: 'human',
      user: 'x',
      score: 0,
      at: new Date().toISOString(),
    });
    for (const user of ['plc-1', 'hmi-1', 'dashboard', 'stranger']) {
      const client = await as(user);
      await client.publishAsync(`${BASE}/verdict`, forged, { qos: 1 });
      await client.publishAsync(`${BASE}/status`, JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
    }
    // A round trip through the station after the forgeries: anything they carried would be here by now.
    const plc = await as('plc-1');
    await plc.publishAsync(`${BASE}/frame/M-3`, await goodPart(4), { qos: 1 });
    await watcher.waitFor('result of M-3', () => watcher.json<Result>('/result').find((r) => r.partId === 'M-3'));
    expect(
      watcher.messages.filter((m) => m.payload.includes('FORGED-3') || m.payload.toString() === '{"state":"offline"}'),
    ).toEqual([]);
  });
});

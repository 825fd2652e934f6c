/**
 * The Sparkplug B edge node against Debian's Mosquitto, watched by a Sparkplug host written with
 * the same library: births with every metric, DDATA when a part is inspected (triggered over the
 * plain JSON contract, which stays the primary one), rebirth on NCMD, and the will as NDEATH with
 * the bdSeq of the birth when the process dies.
 */
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { decodePayload, encodePayload, REBIRTH } from '../../edge/src/integrations/sparkplug.ts';
import { mosquittoPath, startMosquitto, type Mosquitto } from '../support/system.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';

const binary = mosquittoPath();
const GROUP = 'plant-a';
const NODE = 'edge-1';

interface Seen {
  topic: string;
  payload: UPayload;
}

let broker: Mosquitto;
let loupe: LoupeProcess;
let host: MqttClient;
const seen: Seen[] = [];

const metric = (p: UPayload, name: string) => p.metrics?.find((m) => m.name === name)?.value;
const asNumber = (v: unknown) =>
  typeof v === 'object' && v !== null && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v);

async function until<T>(what: string, find: () => T | undefined, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never seen: ${what}; seen ${seen.map((s) => s.topic).join(', ')}`);
}

describe.skipIf(!binary)('the Sparkplug B edge node', () => {
  beforeAll(async () => {
    broker = await startMosquitto(binary as string);
    host = await mqtt.connectAsync(broker.url, { clientId: 'sparkplug-host' });
    host.on('message', (topic, bytes) => seen.push({ topic, payload: decodePayload(bytes) }));
    await host.subscribeAsync(`spBv1.0/${GROUP}/#`, { qos: 1 });
    const dir = await tempDir('loupe-sparkplug-');
    const { file } = await writeConfig(
      {
        dataDir: path.join(dir, 'data'),
        http: { port: 0 },
        mqtt: { url: broker.url },
        sparkplug: { groupId: GROUP, edgeNodeId: NODE },
        stations: [
          {
            id: 'station-1',
            queue: { workers: 1 },
            ingest: { synthetic: { ratePerSecond: 0.001, defectShare: 0, seed: 3 } },
          },
        ],
      },
      dir,
    );
    loupe = await startLoupe('edge', ['--config', file], {}, 60_000);
  }, 90_000);

  afterAll(async () => {
    if (loupe && loupe.child.exitCode === null && loupe.child.signalCode === null) await loupe.stop();
    await host?.endAsync();
    await broker?.stop();
  });

  it('is born with the node and device metrics, and bdSeq in NBIRTH', async () => {
    const nbirth = await until('NBIRTH', () => seen.find((s) => s.topic === `spBv1.0/${GROUP}/NBIRTH/${NODE}`));
    expect(asNumber(nbirth.payload.seq)).toBe(0);
    expect(metric(nbirth.payload, REBIRTH)).toBe(false);
    expect(metric(nbirth.payload, 'bdSeq')).toBeDefined();
    const dbirth = await until('DBIRTH', () =>
      seen.find((s) => s.topic === `spBv1.0/${GROUP}/DBIRTH/${NODE}/station-1`),
    );
    expect(asNumber(dbirth.payload.seq)).toBe(1);
    expect(dbirth.payload.metrics?.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        'Verdicts/Pass',
        'Verdicts/Reject',
        'Verdicts/Hold',
        'Review/Queue Depth',
        'Inspection/Last Score',
        'Model/Id',
        'Model/Version',
        'Health/Online',
        'Health/Broker Connected',
      ]),
    );
    expect(metric(dbirth.payload, 'Model/Id')).toBe('default');
    expect(asNumber(metric(dbirth.payload, 'Verdicts/Pass'))).toBe(0);
  });

  it('sends DDATA with the metrics that changed when a part triggered over the JSON contract is inspected', async () => {
    await host.publishAsync('loupe/line-1/station-1/trigger', JSON.stringify({ partId: 'SP-1' }), { qos: 1 });
    const ddata = await until('DDATA with the part', () =>
      seen.find(
        (s) =>
          s.topic === `spBv1.0/${GROUP}/DDATA/${NODE}/station-1` &&
          metric(s.payload, 'Inspection/Last Part') === 'SP-1',
      ),
    );
    expect(typeof metric(ddata.payload, 'Inspection/Last Score')).toBe('number');
    // only what changed: the model did not
    expect(metric(ddata.payload, 'Model/Id')).toBeUndefined();
    await until('Verdicts/Pass 1', () =>
      seen.find((s) => s.topic.includes('/DDATA/') && asNumber(metric(s.payload, 'Verdicts/Pass')) === 1),
    );
  });

  it('is born again on NCMD Node Control/Rebirth, with the same bdSeq and seq from 0', async () => {
    const first = seen.find((s) => s.topic.includes('/NBIRTH/')) as Seen;
    const births = seen.filter((s) => s.topic.includes('/NBIRTH/')).length;
    await host.publishAsync(
      `spBv1.0/${GROUP}/NCMD/${NODE}`,
      Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: REBIRTH, type: 'Boolean', value: true }] })),
      { qos: 1 },
    );
    await until('a second NBIRTH', () =>
      seen.filter((s) => s.topic.includes('/NBIRTH/')).length > births ? true : undefined,
    );
    const again = seen.filter((s) => s.topic.includes('/NBIRTH/')).at(-1) as Seen;
    expect(asNumber(again.payload.seq)).toBe(0);
    expect(asNumber(metric(again.payload, 'bdSeq'))).toBe(asNumber(metric(first.payload, 'bdSeq')));
    // and the device is born again with the counts so far
    const dbirth = await until('a DBIRTH after the rebirth', () =>
      seen.slice(seen.indexOf(again)).find((s) => s.topic.includes('/DBIRTH/')),
    );
    expect(asNumber(metric(dbirth.payload, 'Verdicts/Pass'))).toBe(1);
  });

  it('dies with NDEATH as its will, carrying the bdSeq of its birth', async () => {
    const birth = seen.filter((s) => s.topic.includes('/NBIRTH/')).at(-1) as Seen;
    loupe.child.kill('SIGKILL'); // no clean stop: the broker sends the will
    const death = await until('NDEATH', () => seen.find((s) => s.topic === `spBv1.0/${GROUP}/NDEATH/${NODE}`));
    expect(asNumber(metric(death.payload, 'bdSeq'))).toBe(asNumber(metric(birth.payload, 'bdSeq')));
  });
});

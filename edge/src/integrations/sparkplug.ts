/**
 * A Sparkplug B edge node, for SCADA stacks (Ignition and its MQTT modules, and other Sparkplug
 * hosts) that discover what they show from birth certificates instead of reading a topic contract.
 * The edge box is the edge node, each station a device: NBIRTH and DBIRTH carry every metric (final
 * verdict counts, review queue depth, last score, model, health), DDATA carries the metrics that
 * changed, NDEATH is the MQTT will, and an NCMD `Node Control/Rebirth` makes the node born again.
 *
 * bdSeq follows the specification: it counts the node's MQTT sessions (0–255, then 0 again), is
 * carried in NBIRTH and in the will's NDEATH of the same session, and is kept on disk so a restart
 * does not repeat the last one. The plain JSON contract stays the primary one: this is a view of it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import sparkplug from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { Result, Status, VerdictMessage } from '../../../contract/payloads.ts';
import type { SparkplugConfig } from '../../../config/integrations.ts';
import { connectOptions, type BrokerOptions } from '../../../shared/mqtt.ts';
import type { StationObserver } from './observer.ts';

const codec = sparkplug.get('spBv1.0');
if (!codec) throw new Error('sparkplug-payload has no spBv1.0 codec');
export const { encodePayload, decodePayload } = codec;

export const NAMESPACE = 'spBv1.0';
export const REBIRTH = 'Node Control/Rebirth';

/** What the node needs of a station (edge/src/station.ts). */
export interface SparkplugStation {
  readonly id: string;
  readonly observers: Set<StationObserver>;
  readonly connected: boolean;
  status(state: 'online'): Status;
}

type Value = number | boolean | string;
type Metrics = Map<string, { type: UMetric['type']; value: Value }>;

/** Sparkplug topics of a node and its devices. */
export const sparkplugTopics = {
  node: (group: string, node: string, type: 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD') =>
    `${NAMESPACE}/${group}/${type}/${node}`,
  device: (group: string, node: string, type: 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD', device: string) =>
    `${NAMESPACE}/${group}/${type}/${node}/${device}`,
};

interface Device {
  station: SparkplugStation;
  counts: { pass: number; reject: number; hold: number; review: number; results: number };
  last: { score: number; verdict: string; partId: string };
  /** what the host was last told */
  sent: Metrics;
  observer: StationObserver;
}

export class SparkplugNode {
  private client: MqttClient | null = null;
  private readonly devices: Device[] = [];
  private bdSeq = 0;
  private seq = 0;
  private born = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly group: string;
  private readonly node: string;

  constructor(
    private readonly config: SparkplugConfig,
    private readonly broker: BrokerOptions,
    line: string,
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {
    this.group = config.groupId;
    this.node = config.edgeNodeId ?? line;
  }

  async start(stations: SparkplugStation[]): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    this.bdSeq = await this.readBdSeq();
    for (const station of stations) {
      const device: Device = {
        station,
        counts: { pass: 0, reject: 0, hold: 0, review: 0, results: 0 },
        last: { score: Number.NaN, verdict: '', partId: '' },
        sent: new Map(),
        observer: {
          result: (result: Result) => {
            device.counts.results += 1;
            if (result.verdict === 'review') device.counts.review += 1;
            device.last = { score: result.score ?? Number.NaN, verdict: result.verdict, partId: result.partId };
            this.changed(device);
          },
          verdict: (verdict: VerdictMessage) => {
            device.counts[verdict.verdict] += 1;
            this.changed(device);
          },
        },
      };
      station.observers.add(device.observer);
      this.devices.push(device);
    }
    const url = this.config.url ?? this.broker.url;
    const clientId = `${this.broker.clientId ?? 'loupe'}-sparkplug-${this.node}`.slice(0, 64);
    const client = mqtt.connect(url, { ...connectOptions(this.broker, clientId), clean: true, will: this.will() });
    this.client = client;
    client.on('connect', () => {
      client.subscribe(sparkplugTopics.node(this.group, this.node, 'NCMD'), { qos: 1 });
      void this.persistBdSeq();
      this.birth();
    });
    client.on('close', () => {
      if (!this.born) return;
      // The session that ended had its NDEATH sent by the broker; the next session is a new bdSeq.
      this.born = false;
      this.bdSeq = (this.bdSeq + 1) % 256;
      if (client.options.will) client.options.will.payload = Buffer.from(this.deathPayload());
    });
    client.on('message', (topic, payload) => this.command(topic, payload));
    client.on('error', (error) => this.log.warn({ err: error.message }, 'sparkplug connection error'));
    this.timer = setInterval(() => this.devices.forEach((d) => this.changed(d)), 1000);
    this.timer.unref();
    this.log.info(
      { url, group: this.group, node: this.node, devices: stations.map((s) => s.id) },
      'Sparkplug B edge node started',
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const device of this.devices) device.station.observers.delete(device.observer);
    const client = this.client;
    if (!client) return;
    if (client.connected && this.born) {
      // A clean stop says so itself; the will is for the unclean ones.
      await client
        .publishAsync(sparkplugTopics.node(this.group, this.node, 'NDEATH'), Buffer.from(this.deathPayload()), {
          qos: 1,
        })
        .catch(() => undefined);
    }
    this.born = false;
    await client.endAsync();
  }

  private will() {
    return {
      topic: sparkplugTopics.node(this.group, this.node, 'NDEATH'),
      payload: Buffer.from(this.deathPayload()),
      qos: 1 as const,
      retain: false,
    };
  }

  private deathPayload(): Uint8Array {
    return encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq }] });
  }

  /** NBIRTH (seq 0) and a DBIRTH per station, with every metric. */
  private birth(): void {
    const client = this.client;
    if (!client?.connected) return;
    this.seq = 0;
    const nodeMetrics: UMetric[] = [
      { name: 'bdSeq', type: 'UInt64', value: this.bdSeq },
      { name: REBIRTH, type: 'Boolean', value: false },
      { name: 'Node Info/Stations', type: 'UInt32', value: this.devices.length },
    ];
    client.publish(sparkplugTopics.node(this.group, this.node, 'NBIRTH'), Buffer.from(this.payload(nodeMetrics)), {
      qos: 0,
    });
    for (const device of this.devices) {
      const metrics = this.metricsOf(device);
      device.sent = metrics;
      client.publish(
        sparkplugTopics.device(this.group, this.node, 'DBIRTH', device.station.id),
        Buffer.from(this.payload(toList(metrics))),
        { qos: 0 },
      );
    }
    this.born = true;
  }

  /** DDATA with the metrics of `device` that changed since the host was last told. */
  private changed(device: Device): void {
    const client = this.client;
    if (!client?.connected || !this.born) return;
    const now = this.metricsOf(device);
    const diff: Metrics = new Map();
    for (const [name, metric] of now) {
      const before = device.sent.get(name);
      if (!before || !Object.is(before.value, metric.value)) diff.set(name, metric);
    }
    if (diff.size === 0) return;
    device.sent = now;
    client.publish(
      sparkplugTopics.device(this.group, this.node, 'DDATA', device.station.id),
      Buffer.from(this.payload(toList(diff))),
      { qos: 0 },
    );
  }

  private metricsOf(device: Device): Metrics {
    const status = device.station.status('online');
    const m: Metrics = new Map();
    const add = (name: string, type: UMetric['type'], value: Value) => m.set(name, { type, value });
    add('Verdicts/Pass', 'UInt64', device.counts.pass);
    add('Verdicts/Reject', 'UInt64', device.counts.reject);
    add('Verdicts/Hold', 'UInt64', device.counts.hold);
    add('Results/Total', 'UInt64', device.counts.results);
    add('Results/Review', 'UInt64', device.counts.review);
    add('Review/Queue Depth', 'UInt32', status.openReviews ?? 0);
    add('Inspection/Last Score', 'Double', device.last.score);
    add('Inspection/Last Verdict', 'String', device.last.verdict);
    add('Inspection/Last Part', 'String', device.last.partId);
    add('Model/Id', 'String', status.model?.id ?? '');
    add('Model/Version', 'String', status.model?.version ?? '');
    add('Health/Online', 'Boolean', status.state === 'online');
    add('Health/Broker Connected', 'Boolean', device.station.connected);
    add('Health/Queue Depth', 'UInt32', status.queueDepth ?? 0);
    add('Health/Overloaded', 'Boolean', status.overloaded ?? false);
    add('Health/Outbox Depth', 'UInt32', status.outboxDepth ?? 0);
    return m;
  }

  private payload(metrics: UMetric[]): Uint8Array {
    const timestamp = Date.now();
    const payload: UPayload = {
      timestamp,
      seq: this.seq,
      metrics: metrics.map((metric) => ({ ...metric, timestamp })),
    };
    this.seq = (this.seq + 1) % 256;
    return encodePayload(payload);
  }

  private command(topic: string, bytes: Buffer): void {
    if (topic !== sparkplugTopics.node(this.group, this.node, 'NCMD')) return;
    let payload: UPayload;
    try {
      payload = decodePayload(bytes);
    } catch (error) {
      this.log.warn({ topic, err: (error as Error).message }, 'NCMD that is not a Sparkplug B payload; ignored');
      return;
    }
    if ((payload.metrics ?? []).some((m) => m.name === REBIRTH && m.value === true)) {
      this.log.info('Sparkplug host asked for a rebirth');
      this.birth();
    }
  }

  private async readBdSeq(): Promise<number> {
    const text = await readFile(path.join(this.stateDir, 'bdseq'), 'utf8').catch(() => '0');
    const n = Number(text.trim());
    return Number.isInteger(n) && n >= 0 && n < 256 ? n : 0;
  }

  private async persistBdSeq(): Promise<void> {
    // The bdSeq of the next session: a restart after a crash must not repeat the one just used.
    await writeFile(path.join(this.stateDir, 'bdseq'), String((this.bdSeq + 1) % 256)).catch((error: unknown) =>
      this.log.error({ err: (error as Error).message }, 'cannot keep the Sparkplug bdSeq'),
    );
  }
}

function toList(metrics: Metrics): UMetric[] {
  return [...metrics].map(([name, { type, value }]) => ({ name, type, value }));
}

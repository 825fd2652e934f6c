/**
 * The PLC handshake over OPC UA beside the MQTT contract, in the same run and on the same station:
 * trigger → ResultReady (OPC UA: a Trigger call, then reads of ResultReady back to back, as a PLC
 * cycle polls; signed and encrypted, with a user) against trigger → result message (MQTT, QoS 1).
 * Parts alternate between the two, one at a time, so both see the same machine; the OPC UA part is
 * acknowledged (ResultAck up and down) before the next part, outside the measured span. Both spans
 * include the synthetic camera's capture (made on the trigger) and the inspection, the same for both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
} from 'node-opcua';
import { checkConfig } from '../config/load.ts';
import { run } from '../cli/run.ts';
import { NAMESPACE_URI } from '../edge/src/integrations/opcua.ts';
import { freePort } from '../test/support/system.ts';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 100) / 100;
}

export async function benchOpcUa(
  options: { parts?: number; warmup?: number; maxSeconds?: number } = {},
): Promise<Record<string, number>> {
  const parts = options.parts ?? 150;
  const warmup = options.warmup ?? 10;
  const deadline = Date.now() + (options.maxSeconds ?? 120) * 1000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-opcua-'));
  const port = await freePort();
  const plc = { name: 'plc', password: 'bench-plc-password' };
  const config = checkConfig({
    line: 'bench',
    dataDir: path.join(dir, 'data'),
    mqtt: { port: 0 },
    http: { port: 0 },
    // A password of its own, so no first-admin notice lands in the benchmark's output.
    dashboard: { admin: { user: 'bench', password: randomBytes(12).toString('base64url') } },
    opcua: { port, users: [plc], acceptUnknownClientCertificates: true, pkiDir: path.join(dir, 'pki') },
    // The synthetic camera takes the picture on each trigger; it emits nothing by itself in the run's time.
    stations: [
      { id: 'cam-o', queue: { workers: 1 }, ingest: { synthetic: { ratePerSecond: 0.001, defectShare: 0, seed: 11 } } },
    ],
  });
  const running = await run(config, { broker: true, edge: true, dashboard: false }, pino({ level: 'warn' }));
  const client = OPCUAClient.create({
    applicationName: 'bench-plc',
    endpointMustExist: false,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: path.join(dir, 'plc-pki'),
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  const broker = await mqtt.connectAsync(running.mqttUrl, { clientId: 'bench-plc-mqtt' });
  try {
    await client.connect(`opc.tcp://127.0.0.1:${port}/UA/Loupe`);
    const session = await client.createSession({
      type: UserTokenType.UserName,
      userName: plc.name,
      password: plc.password,
    });
    const ns = (await session.readNamespaceArray()).indexOf(NAMESPACE_URI);
    const node = (name: string) => `ns=${ns};s=bench/cam-o/${name}`;
    const readBool = async (name: string) =>
      (await session.read({ nodeId: node(name), attributeId: AttributeIds.Value })).value.value as boolean;
    const writeBool = (name: string, value: boolean) =>
      session.write({
        nodeId: node(name),
        attributeId: AttributeIds.Value,
        value: { value: { dataType: DataType.Boolean, value } },
      });

    const waiting = new Map<string, () => void>();
    broker.on('message', (_topic, payload) => {
      const { partId } = JSON.parse(payload.toString()) as { partId: string };
      waiting.get(partId)?.();
    });
    await broker.subscribeAsync('loupe/bench/cam-o/result', { qos: 1 });

    const viaOpcUa = async (partId: string): Promise<number> => {
      const t0 = performance.now();
      await session.call({
        objectId: `ns=${ns};s=bench/cam-o`,
        methodId: node('Trigger'),
        inputArguments: [{ dataType: DataType.String, value: partId }],
      });
      for (let i = 0; i < 100_000 && !(await readBool('ResultReady')); i++)
        if (Date.now() > deadline + 30_000) throw new Error('no ResultReady');
      const ms = performance.now() - t0;
      await writeBool('ResultAck', true);
      await writeBool('ResultAck', false);
      return ms;
    };
    const viaMqtt = async (partId: string): Promise<number> => {
      const t0 = performance.now();
      const arrived = new Promise<void>((resolve) => waiting.set(partId, resolve));
      await broker.publishAsync('loupe/bench/cam-o/trigger', JSON.stringify({ partId }), { qos: 1 });
      await arrived;
      waiting.delete(partId);
      return performance.now() - t0;
    };

    const opcua: number[] = [];
    const viaBroker: number[] = [];
    for (let i = 0; i < warmup + parts && Date.now() < deadline; i++) {
      const a = await viaOpcUa(`O-${i}`);
      const b = await viaMqtt(`M-${i}`);
      if (i >= warmup) {
        opcua.push(a);
        viaBroker.push(b);
      }
    }
    await session.close();
    const p99 = { opcua: percentile(opcua, 99), mqtt: percentile(viaBroker, 99) };
    return {
      opcuaParts: opcua.length,
      opcuaTriggerToResultReadyP50Ms: percentile(opcua, 50),
      opcuaTriggerToResultReadyP99Ms: p99.opcua,
      mqttTriggerToResultP50Ms: percentile(viaBroker, 50),
      mqttTriggerToResultP99Ms: p99.mqtt,
      opcuaOverMqttP99: Math.round((p99.opcua / p99.mqtt) * 1000) / 1000,
      // Both spans include the synthetic camera's capture and the inspection; the difference is the transport's.
      opcuaMinusMqttP50Ms: Math.round((percentile(opcua, 50) - percentile(viaBroker, 50)) * 100) / 100,
    };
  } finally {
    await client.disconnect().catch(() => undefined);
    await broker.endAsync().catch(() => undefined);
    await running.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await benchOpcUa()));

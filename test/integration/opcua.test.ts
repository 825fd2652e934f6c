/**
 * The OPC UA handshake against node-opcua's own client as the PLC, over loopback, with signing and
 * encryption and a user name: trigger → result → ack per part; a PLC that does not acknowledge
 * holds the next result; a review is presented again with its final verdict; anonymous is refused.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  UserTokenType,
  type ClientSession,
} from 'node-opcua';
import { NAMESPACE_URI } from '../../edge/src/integrations/opcua.ts';
import { freePort } from '../support/system.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';

const PLC = { name: 'plc', password: 'plc-password-1' };
let loupe: LoupeProcess;
let endpoint: string;
let client: OPCUAClient;
let session: ClientSession;
let ns: number;

function plcClient(pki: string): OPCUAClient {
  return OPCUAClient.create({
    applicationName: 'test-plc',
    endpointMustExist: false,
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: pki,
      automaticallyAcceptUnknownCertificate: true,
    }),
    connectionStrategy: { maxRetry: 2, initialDelay: 100, maxDelay: 500 },
  });
}

beforeAll(async () => {
  const dir = await tempDir('loupe-opcua-');
  const port = await freePort();
  const synthetic = { ratePerSecond: 0.001, defectShare: 0, seed: 5 };
  const { file } = await writeConfig(
    {
      dataDir: path.join(dir, 'data'),
      http: { port: 0 },
      mqtt: { port: 0 },
      opcua: { port, users: [PLC], acceptUnknownClientCertificates: true, pkiDir: path.join(dir, 'pki') },
      stations: [
        { id: 'station-1', ingest: { synthetic }, queue: { workers: 1 } },
        // every part a review, decided by its deadline
        {
          id: 'station-2',
          ingest: { synthetic },
          queue: { workers: 1 },
          thresholds: { passBelow: -1, rejectAbove: 1e9 },
          review: { deadlineSeconds: 1, defaultAction: 'reject' },
        },
      ],
    },
    dir,
  );
  loupe = await startLoupe('start', ['--config', file], {}, 90_000);
  endpoint = `opc.tcp://127.0.0.1:${port}/UA/Loupe`;
  client = plcClient(path.join(dir, 'plc-pki'));
  await client.connect(endpoint);
  session = await client.createSession({ type: UserTokenType.UserName, userName: PLC.name, password: PLC.password });
  // As a PLC finds it: the namespace index of Loupe's URI in the server's NamespaceArray.
  ns = (await session.readNamespaceArray()).indexOf(NAMESPACE_URI);
  expect(ns).toBeGreaterThan(0);
}, 120_000);

afterAll(async () => {
  await session?.close().catch(() => undefined);
  await client?.disconnect().catch(() => undefined);
  await loupe?.stop();
});

const id = (station: string, name: string) => `ns=${ns};s=line-1/${station}/${name}`;

async function read(station: string, name: string): Promise<unknown> {
  const value = await session.read({ nodeId: id(station, name), attributeId: AttributeIds.Value });
  expect(value.statusCode.isGood()).toBe(true);
  return value.value.value;
}

async function write(station: string, name: string, value: boolean): Promise<void> {
  const status = await session.write({
    nodeId: id(station, name),
    attributeId: AttributeIds.Value,
    value: { value: { dataType: DataType.Boolean, value } },
  });
  expect(status.name).toBe('Good');
}

async function trigger(station: string, partId: string) {
  return session.call({
    objectId: `ns=${ns};s=line-1/${station}`,
    methodId: id(station, 'Trigger'),
    inputArguments: [{ dataType: DataType.String, value: partId }],
  });
}

/** Polls until `check` holds (bounded in count), as a PLC cycle would. */
async function until(what: string, check: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never happened: ${what}`);
}

async function presented(station: string) {
  return {
    partId: await read(station, 'PartId'),
    verdict: await read(station, 'Verdict'),
    finalVerdict: await read(station, 'FinalVerdict'),
    reviewPending: await read(station, 'ReviewPending'),
    score: await read(station, 'Score'),
    decidedBy: await read(station, 'DecidedBy'),
  };
}

/** The PLC's side of the handshake: ResultAck up, ResultReady drops, ResultAck down. */
async function acknowledge(station: string): Promise<void> {
  await write(station, 'ResultAck', true);
  expect(await read(station, 'ResultReady')).toBe(false);
  await write(station, 'ResultAck', false);
}

describe('the OPC UA handshake', () => {
  it('refuses a client without a user, and a user with a wrong password', async () => {
    await expect(client.createSession()).rejects.toThrow();
    await expect(
      client.createSession({ type: UserTokenType.UserName, userName: PLC.name, password: 'not-the-password' }),
    ).rejects.toThrow();
  });

  it('runs trigger → result → ack for a part, with the result in typed fields', async () => {
    expect(await read('station-1', 'TriggerReady')).toBe(true);
    expect((await trigger('station-1', 'P-1')).statusCode).toEqual(StatusCodes.Good);
    await until('ResultReady for P-1', async () => (await read('station-1', 'ResultReady')) === true);
    const result = await presented('station-1');
    expect(result).toMatchObject({
      partId: 'P-1',
      verdict: 1,
      finalVerdict: 1,
      reviewPending: false,
      decidedBy: 'model',
    });
    expect(typeof result.score).toBe('number');
    expect(await read('station-1', 'Busy')).toBe(false);
    await acknowledge('station-1');
    expect(await read('station-1', 'ResultReady')).toBe(false);
    expect(await read('station-1', 'Triggers')).toBe(1);
  });

  it('holds the next result while the PLC has not acknowledged the one presented', async () => {
    const before = (await read('station-1', 'ResultSequence')) as number;
    await trigger('station-1', 'P-2');
    await trigger('station-1', 'P-3');
    await until(
      'P-3 inspected and waiting',
      async () => (await read('station-1', 'ResultsWaiting')) === 1 && (await read('station-1', 'Busy')) === false,
    );
    // Results are presented in the order the parts were concluded, which need not be the trigger order.
    const first = (await read('station-1', 'PartId')) as string;
    expect(['P-2', 'P-3']).toContain(first);
    expect(await read('station-1', 'ResultSequence')).toBe(before + 1);
    await write('station-1', 'ResultAck', true);
    // Acknowledged but ResultAck not reset: P-3 still waits.
    expect(await read('station-1', 'ResultReady')).toBe(false);
    expect(await read('station-1', 'ResultsWaiting')).toBe(1);
    await write('station-1', 'ResultAck', false);
    expect(await read('station-1', 'ResultReady')).toBe(true);
    expect(await read('station-1', 'PartId')).toBe(first === 'P-2' ? 'P-3' : 'P-2');
    await acknowledge('station-1');
  });

  it('presents a review with ReviewPending, then again with its final verdict once decided', async () => {
    await trigger('station-2', 'R-1');
    await until('ResultReady for R-1', async () => (await read('station-2', 'ResultReady')) === true);
    expect(await presented('station-2')).toMatchObject({
      partId: 'R-1',
      verdict: 3,
      reviewPending: true,
      finalVerdict: 0,
      decidedBy: '',
    });
    await acknowledge('station-2');
    await until('the final verdict of R-1', async () => (await read('station-2', 'ResultReady')) === true);
    expect(await presented('station-2')).toMatchObject({
      partId: 'R-1',
      verdict: 3,
      reviewPending: false,
      finalVerdict: 2,
      decidedBy: 'timeout',
    });
    await acknowledge('station-2');
    expect(await read('station-2', 'Rejected')).toBe(1);
  });

  it('refuses a trigger with a part id outside the safe alphabet and says so in ErrorText', async () => {
    const answer = await trigger('station-1', '../etc/passwd');
    expect(answer.statusCode).toEqual(StatusCodes.BadInvalidArgument);
    expect(await read('station-1', 'Error')).toBe(true);
    expect(await read('station-1', 'ErrorText')).toMatch(/not a part id/);
  });
});

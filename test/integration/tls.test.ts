/** A station talking to Mosquitto over TLS with a client certificate, all from a CA made by the test. */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, Status } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { mosquittoPath, requireSystem, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const binary = mosquittoPath();
const openssl = requireSystem('OpenSSL', ['openssl'], 'apt-get install openssl');
const suite = binary && openssl ? describe : describe.skip;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, signed by the CA. */
function makeCertificates(dir: string): void {
  const run = (...args: string[]) => execFileSync(openssl as string, args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Loupe test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  for (const [name, subject, ext] of [
    ['server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1'],
    ['client', '/CN=station-tls', 'extendedKeyUsage=clientAuth'],
  ]) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    execFileSync('sh', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  }
}

suite('TLS to the broker', () => {
  let certs: string;
  let mosquitto: Mosquitto;
  let loupe: LoupeProcess;
  beforeAll(async () => {
    certs = await tempDir('loupe-tls-');
    makeCertificates(certs);
    mosquitto = await startMosquitto(binary as string, [
      `cafile ${certs}/ca.crt`,
      `certfile ${certs}/server.crt`,
      `keyfile ${certs}/server.key`,
      'require_certificate true',
    ]);
    const { file } = await writeConfig({
      line: 'line-t',
      dataDir: path.join(certs, 'data'),
      mqtt: {
        url: `mqtts://127.0.0.1:${mosquitto.port}`,
        tls: { ca: `${certs}/ca.crt`, cert: `${certs}/client.crt`, key: `${certs}/client.key` },
      },
      http: { port: 0 },
      stations: [{ id: 'cam-t' }],
    });
    loupe = await startLoupe('edge', ['--config', file]);
  });
  afterAll(async () => {
    await loupe?.stop();
    await mosquitto?.stop();
  });

  it('connects with the CA and a client certificate, and delivers results over mqtts://', async () => {
    const tls = {
      ca: await readFile(`${certs}/ca.crt`),
      cert: await readFile(`${certs}/client.crt`),
      key: await readFile(`${certs}/client.key`),
    };
    const plc = await Collector.connect(`mqtts://127.0.0.1:${mosquitto.port}`, ['loupe/line-t/cam-t/#'], tls);
    try {
      const status = await plc.waitFor('station online over TLS', () =>
        plc.json<Status>('/status').find((s) => s.state === 'online'),
      );
      expect(status.station).toBe('cam-t');
      const response = await fetch(new URL('/api/stations/cam-t/frames?partId=TLS-1', loupe.httpUrl), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(await goodPart(1, 'png')),
      });
      expect(response.status).toBe(200);
      expect(
        await plc.waitFor('result over TLS', () => plc.json<Result>('/result').find((r) => r.partId === 'TLS-1')),
      ).toMatchObject({ verdict: 'pass' });
    } finally {
      await plc.close();
    }
  });

  it('is refused by the broker without a client certificate', async () => {
    const client = mqtt.connect(`mqtts://127.0.0.1:${mosquitto.port}`, {
      ca: await readFile(`${certs}/ca.crt`),
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    const outcome = await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', (error) => resolve(`error: ${error.message}`));
      client.once('close', () => resolve('closed'));
    });
    client.end(true);
    expect(outcome).not.toBe('connected');
  });
});

/**
 * Crash-consistency soak: `npm run soak` (SOAK_SECONDS, default 90, bounds the traffic; settling
 * adds at most 60 s). Mixed traffic into one edge station on a real Mosquitto (HTTP frames, MQTT
 * frames, triggers, decisions from two MQTT clients acting as dashboards) while the station is
 * SIGKILLed and restarted, the broker is stopped and restarted, and (as root, on a small tmpfs) the
 * disk is filled for a while. At the end every part acknowledged to its sender must have exactly one
 * final answer (a verdict, or the storage_full hold of a part the full disk could not record), no
 * pass without a score below its pass threshold or a person's accept, and the defect log must not
 * contradict what went out. Prints its figures; exits non-zero when one of the checks fails.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { Result, VerdictMessage } from '../contract/payloads.ts';
import { Collector } from '../test/support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../test/support/loupe.ts';
import { defectivePart, goodPart } from '../test/support/parts.ts';
import { findExecutable, startMosquitto } from '../test/support/system.ts';

const seconds = Number(process.env.SOAK_SECONDS ?? 90);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  for (const bytes of [1 << 20, 64 << 10, 4096, 512, 64, 1]) {
    for (let i = 0; i < 10_000; i++) {
      try {
        writeFileSync(file, Buffer.alloc(bytes, 1), { flag: 'a' });
      } catch {
        break;
      }
    }
  }
  return file;
}

function logVerdicts(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (where: string) => {
    if (!existsSync(where)) return;
    for (const name of readdirSync(where)) {
      const file = path.join(where, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (name.endsWith('.jsonl')) {
        for (const line of readFileSync(file, 'utf8').split('\n')) {
          try {
            const event = JSON.parse(line) as { kind?: string; partId?: string; verdict?: string };
            if (event.kind === 'verdict' && event.partId && event.verdict) out.set(event.partId, event.verdict);
          } catch {
            // a line cut short by a kill
          }
        }
      }
    }
  };
  walk(dir);
  return out;
}

async function main(): Promise<number> {
  const mosquittoBinary = findExecutable(['mosquitto', '/usr/sbin/mosquitto']);
  if (!mosquittoBinary) {
    console.error('soak: Mosquitto is needed (apt-get install mosquitto)');
    return 2;
  }
  const root = path.join(os.tmpdir(), `loupe-soak-${process.pid}`);
  const dataDir = path.join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', dataDir]);
  else console.error('soak: not root, so no tmpfs to fill: the full-disk window is skipped');

  const mosquitto = await startMosquitto(mosquittoBinary, ['max_queued_messages 0']);
  // However the soak ends (a station that cannot start rejects out of a restart), nothing it started stays.
  let finished = false;
  const live: { station?: ChildProcess } = {};
  process.once('exit', () => {
    if (finished) return;
    for (const child of [live.station, mosquitto.process]) if (child && child.exitCode === null) child.kill('SIGKILL');
    if (asRoot) execFileSync('umount', ['-l', dataDir]);
  });
  const base = 'loupe/soak/cam-s';
  const { file } = await writeConfig(
    {
      line: 'soak',
      dataDir,
      mqtt: { url: mosquitto.url },
      http: { port: 0 },
      stations: [
        {
          id: 'cam-s',
          review: { deadlineSeconds: 15, defaultAction: 'hold' },
          trigger: { frameTimeoutMs: 1000 },
          statusIntervalSeconds: 1,
        },
      ],
    },
    root,
  );
  const crashes: string[] = [];
  let expectExit = false;
  let loupe: LoupeProcess;
  /** Starts the station; an exit nobody asked for is a crash: counted, its last log lines kept, restarted as systemd would. */
  const start = async () => {
    loupe = await startLoupe('edge', ['--config', file]);
    live.station = loupe.child;
    const started = loupe;
    started.child.once('exit', (code, signal) => {
      if (expectExit || started !== loupe) return;
      crashes.push(`exit ${code ?? signal}: ${started.logs.slice(-5).join(' | ')}`);
      stationUp = false;
      void start().then(() => (stationUp = true));
    });
  };
  const stopStation = async (signal: NodeJS.Signals) => {
    expectExit = true;
    const child = loupe.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
    }
    expectExit = false;
  };
  let stationUp = true;
  await start();
  const observer = await Collector.connect(mosquitto.url, [`${base}/result`, `${base}/verdict`], {
    clientId: 'soak-observer',
    clean: false,
  });
  const sender = mqtt.connect(mosquitto.url, { clientId: 'soak-plc', clean: false, reconnectPeriod: 200 });
  const dashboards = ['dash-a', 'dash-b'].map((user) => {
    const client = mqtt.connect(mosquitto.url, { clientId: `soak-${user}`, clean: false, reconnectPeriod: 200 });
    client.on('connect', () => client.subscribe(`${base}/review/+`, { qos: 1 }));
    client.on('message', (topic, payload) => {
      if (payload.length === 0 || Math.random() < 0.35) return; // some reviews are left to their deadline
      const partId = topic.slice(topic.lastIndexOf('/') + 1);
      setTimeout(
        () =>
          client.publish(
            `${base}/decision`,
            JSON.stringify({ partId, decision: Math.random() < 0.7 ? 'accept' : 'reject', user }),
            { qos: 1 },
          ),
        100 + Math.random() * 1500,
      );
    });
    return client;
  });
  const images = [
    await goodPart(1, 'png'),
    await goodPart(2, 'png'),
    await defectivePart(3, 'missing', 'png'),
    await defectivePart(4, 'scratch', 'png'),
  ];

  const accepted = new Set<string>();
  let n = 0;
  const figures = { kills: 0, brokerOutages: 0, diskFullWindows: 0, http: 0, mqtt: 0, triggers: 0 };
  const traffic = async (until: number) => {
    while (Date.now() < until) {
      const partId = `S-${String(++n).padStart(6, '0')}`;
      const kind = pick(['http', 'http', 'mqtt', 'mqtt', 'trigger']);
      if (kind === 'http') {
        if (stationUp)
          void fetch(new URL(`/api/stations/cam-s/frames?partId=${partId}`, loupe.httpUrl), {
            method: 'POST',
            headers: { 'content-type': 'image/png' },
            body: new Uint8Array(pick(images)),
          })
            .then((response) => response.ok && (accepted.add(partId), (figures.http += 1)))
            .catch(() => undefined); // refused or cut by a kill: not acknowledged, the sender would send again
      } else if (kind === 'mqtt') {
        sender.publish(
          `${base}/frame/${partId}`,
          pick(images),
          { qos: 1 },
          (error) => !error && (accepted.add(partId), (figures.mqtt += 1)),
        );
      } else {
        sender.publish(
          `${base}/trigger`,
          JSON.stringify({ partId, requestId: `r-${partId}` }),
          { qos: 1 },
          (error) => !error && (accepted.add(partId), (figures.triggers += 1)),
        );
      }
      await sleep(40 + Math.random() * 40);
    }
  };
  const chaos = async (until: number) => {
    // Each kind at least once (the full disk once, as root), then kills and broker outages at random.
    const first = asRoot ? ['kill', 'broker', 'disk'] : ['kill', 'broker'];
    while (Date.now() < until - 8000) {
      await sleep(3000 + Math.random() * 3000);
      const what = first.shift() ?? pick(['kill', 'kill', 'broker']);
      if (what === 'kill') {
        stationUp = false;
        await stopStation('SIGKILL');
        figures.kills += 1;
        await sleep(Math.random() * 1000);
        await start();
        stationUp = true;
      } else if (what === 'broker') {
        await mosquitto.stop();
        figures.brokerOutages += 1;
        await sleep(2000 + Math.random() * 2000);
        await mosquitto.restart();
      } else {
        const filler = fill(dataDir);
        figures.diskFullWindows += 1;
        await sleep(5000);
        rmSync(filler);
        await sleep(2000);
      }
    }
  };
  const started = Date.now();
  const until = started + seconds * 1000;
  await Promise.all([traffic(until), chaos(until)]);

  // Settle: everything acknowledged gets its final answer (reviews left alone reach their deadline).
  const finals = () => {
    // A verdict is final. A storage_full result is a review no verdict may follow: the line holds
    // the part, which is its final answer unless a verdict does follow (a review that was on disk).
    const byPart = new Map<string, Set<string>>();
    const add = (partId: string, what: string) => byPart.set(partId, (byPart.get(partId) ?? new Set()).add(what));
    for (const verdict of observer.json<VerdictMessage>('/verdict')) add(verdict.partId, verdict.verdict);
    for (const result of observer.json<Result>('/result'))
      if (result.reasons.includes('storage_full') && !byPart.has(result.partId)) add(result.partId, 'hold');
    return byPart;
  };
  const settleBy = Date.now() + 60_000;
  while (Date.now() < settleBy && [...accepted].some((id) => !finals().has(id))) await sleep(500);

  const byPart = finals();
  const lost = [...accepted].filter((id) => !byPart.has(id));
  const conflicting = [...byPart]
    .filter(([, answers]) => answers.size > 1)
    .map(([id, answers]) => `${id}: ${[...answers].join(' and ')}`);
  const results = new Map(observer.json<Result>('/result').map((r) => [r.partId, r]));
  const wrongPass = observer
    .json<VerdictMessage>('/verdict')
    .filter((v) => v.verdict === 'pass')
    .filter((v) => {
      if (v.decidedBy === 'human') return !v.user;
      const result = results.get(v.partId);
      return (
        v.decidedBy !== 'model' || !result || result.score === null || !(result.score < result.thresholds.passBelow)
      );
    })
    .map((v) => v.partId);
  const logged = logVerdicts(path.join(dataDir, 'log'));
  const disagree = [...logged]
    .filter(([id, verdict]) => byPart.has(id) && !byPart.get(id)?.has(verdict))
    .map(([id]) => id);

  await stopStation('SIGTERM');
  await Promise.all([observer.close(), sender.endAsync(), ...dashboards.map((d) => d.endAsync())]);
  await mosquitto.stop();
  if (asRoot) execFileSync('umount', ['-l', dataDir]);
  finished = true;
  rmSync(root, { recursive: true, force: true });

  const summary = {
    seconds: Math.round((Date.now() - started) / 1000),
    parts: accepted.size,
    ...figures,
    finalAnswers: byPart.size,
    lost: lost.length,
    conflicting: conflicting.length,
    passedWithoutScoreOrAccept: wrongPass.length,
    crashes: crashes.length,
    logVerdicts: logged.size,
    logDisagrees: disagree.length,
  };
  console.log(JSON.stringify(summary));
  for (const [what, ids] of [
    ['station crashed', crashes],
    ['lost', lost],
    ['conflicting', conflicting],
    ['passed without a score below pass or an accept', wrongPass],
    ['log disagrees', disagree],
  ] as const) {
    if (ids.length > 0) console.error(`soak: ${what}: ${ids.slice(0, 20).join(', ')}`);
  }
  return crashes.length + lost.length + conflicting.length + wrongPass.length + disagree.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`soak: ${(error as Error).stack ?? String(error)}`);
    process.exit(2);
  },
);

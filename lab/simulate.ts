/**
 * The human loop, simulated end to end: synthetic parts with known truth go through the real
 * station (HTTP ingest, ONNX, policy, outbox) and the real embedded broker; a simulated technician
 * answers every review from the truth after a short delay, over MQTT; every K decisions a manager,
 * logged in like anyone else, approves the station's calibration as proposed. Any refused call stops
 * the simulation with an error: figures from a loop that never closed would be meaningless. Per window of parts: how many needed a person,
 * how many defects ended as pass (escapes), how many good parts ended as reject.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import pino from 'pino';
import sharp from 'sharp';
import { run } from '../cli/run.ts';
import { checkConfig } from '../config/load.ts';
import type { Result, Review, VerdictMessage } from '../contract/payloads.ts';
import { loadManifest } from '../edge/src/vision/manifest.ts';
import { CATEGORIES, generatePart, rng } from './synth.ts';
import { loginApi } from './api.ts';

export interface SimulationOptions {
  parts: number;
  windows?: number;
  calibrateEvery?: number;
  decisionDelayMs?: number;
  distinctParts?: number;
  defectShare?: number;
  seed?: number;
  model?: string;
}

export interface Window {
  parts: number;
  reviewRate: number;
  escapes: number;
  falseRejects: number;
  thresholds: { passBelow: number; rejectAbove: number };
}

export interface Simulation {
  windows: Window[];
  totalEscapes: number;
  totalFalseRejects: number;
  decisions: number;
  thresholdChanges: number;
}

export async function simulate(options: SimulationOptions): Promise<Simulation> {
  const seed = options.seed ?? 1;
  const random = rng(seed);
  const modelDir = path.resolve(options.model ?? 'models/default');
  const manifest = await loadManifest(modelDir);
  // A new station starts cautious: a wide band that sends many parts to people.
  const start = { passBelow: round(manifest.thresholds.passBelow * 0.5), rejectAbove: round(manifest.thresholds.rejectAbove * 4) };

  const pool: { image: Buffer; defect: string | null }[] = [];
  const distinct = options.distinctParts ?? 400;
  for (let i = 0; i < distinct; i++) {
    const defect = random() < (options.defectShare ?? 0.2) ? CATEGORIES.bracket[Math.floor(random() * CATEGORIES.bracket.length)] : null;
    const part = await generatePart({ category: 'bracket', seed: seed + 1000, index: i, defect });
    pool.push({ image: await sharp(part.image).jpeg({ quality: 92 }).toBuffer(), defect });
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-simulate-'));
  const manager = { user: 'sim-manager', password: randomBytes(12).toString('base64url') };
  const config = checkConfig({
    line: 'sim',
    dataDir: path.join(dir, 'data'),
    mqtt: { port: 0 },
    http: { port: 0 },
    // the first admin (allowed everything a manager is) is the simulation's manager
    dashboard: { admin: manager },
    stations: [{ id: 'sim-1', model: modelDir, thresholds: start, audit: { share: 0.02 }, review: { deadlineSeconds: 60, defaultAction: 'reject' }, queue: { maxDepth: 1000 } }],
  });
  const running = await run(config, { broker: true, edge: true, dashboard: false }, pino({ level: 'silent' }));
  const api = await loginApi(running.httpUrl, manager.user, manager.password).catch(async (error: unknown) => {
    await running.stop();
    throw error;
  });
  const technician = await mqtt.connectAsync(running.mqttUrl, { clientId: `technician-${process.pid}` });
  const truth = new Map<string, string | null>();
  const results = new Map<string, Result>();
  const verdicts = new Map<string, VerdictMessage>();
  let decisions = 0;
  let thresholdChanges = 0;
  let calibrating = Promise.resolve();
  /** what the station refused (a technician's decision, say): any is fatal */
  const refusals: string[] = [];

  technician.on('message', (topic, payload) => {
    if (payload.length === 0) return;
    if (topic.includes('/review/')) {
      const review = JSON.parse(payload.toString()) as Review;
      const defect = truth.get(review.partId);
      setTimeout(() => {
        const decision = defect === undefined || defect === null ? { decision: 'accept' } : { decision: 'reject', category: categoryOf(defect) };
        technician.publish('loupe/sim/sim-1/decision', JSON.stringify({ partId: review.partId, user: 'sim-technician', ...decision }), { qos: 1 });
        decisions += 1;
        if (decisions % (options.calibrateEvery ?? 50) === 0) calibrating = calibrating.then(calibrate);
      }, options.decisionDelayMs ?? 20);
    } else if (topic.endsWith('/error')) {
      refusals.push(payload.toString());
    } else if (topic.endsWith('/verdict')) {
      const verdict = JSON.parse(payload.toString()) as VerdictMessage;
      verdicts.set(verdict.partId, verdict);
    }
  });
  await technician.subscribeAsync(['loupe/sim/sim-1/review/+', 'loupe/sim/sim-1/verdict', 'loupe/sim/sim-1/error'], { qos: 1 });

  async function calibrate(): Promise<void> {
    // wait for the station to have recorded the latest verdicts
    await new Promise((resolve) => setTimeout(resolve, 50));
    const proposal = await api.get<{ ok: boolean; thresholds?: { passBelow: number; rejectAbove: number } }>('/api/stations/sim-1/calibration');
    if (!proposal.ok || !proposal.thresholds) return; // not enough decisions yet: nothing to approve
    await api.post('/api/stations/sim-1/thresholds', { ...proposal.thresholds, basis: `${decisions} decisions` });
    thresholdChanges += 1;
  }

  const windowCount = options.windows ?? 10;
  const windowSize = Math.ceil(options.parts / windowCount);
  const windows: Window[] = [];
  try {
    for (let w = 0; w < windowCount; w++) {
      const ids: string[] = [];
      const thresholds = await api.get<{ current: { passBelow: number; rejectAbove: number } }>('/api/stations/sim-1/thresholds');
      const inFlight = new Set<Promise<void>>();
      for (let i = w * windowSize; i < Math.min(options.parts, (w + 1) * windowSize); i++) {
        const pick = pool[Math.floor(random() * pool.length)];
        const partId = `S-${String(i).padStart(6, '0')}`;
        truth.set(partId, pick.defect);
        ids.push(partId);
        const sending: Promise<void> = api
          .frame<Result>('sim-1', partId, pick.image)
          .then((result) => void results.set(partId, result))
          .finally(() => inFlight.delete(sending));
        inFlight.add(sending);
        if (inFlight.size >= 4) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      // every part of the window has its final verdict before the window is counted
      const deadline = Date.now() + 30_000;
      while (ids.some((id) => !verdicts.has(id)) && Date.now() < deadline && refusals.length === 0) await new Promise((r) => setTimeout(r, 20));
      await calibrating;
      if (refusals.length > 0) throw new Error(`the station refused ${refusals.length} message(s) of the simulation; the first: ${refusals[0]}`);
      const missing = ids.filter((id) => !verdicts.has(id));
      if (missing.length > 0) throw new Error(`${missing.length} part(s) of window ${w + 1} got no verdict within 30 s (first: ${missing[0]})`);
      windows.push({
        parts: ids.length,
        reviewRate: round(ids.filter((id) => results.get(id)?.verdict === 'review').length / ids.length),
        escapes: ids.filter((id) => truth.get(id) !== null && verdicts.get(id)?.verdict === 'pass').length,
        falseRejects: ids.filter((id) => truth.get(id) === null && verdicts.get(id)?.verdict === 'reject').length,
        thresholds: thresholds.current,
      });
    }
  } finally {
    await technician.endAsync();
    await running.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    windows,
    totalEscapes: windows.reduce((sum, w) => sum + w.escapes, 0),
    totalFalseRejects: windows.reduce((sum, w) => sum + w.falseRejects, 0),
    decisions,
    thresholdChanges,
  };
}

/** The synthetic defect names are the station's default categories, except that a spot is a dent or spot. */
function categoryOf(defect: string): string {
  return defect === 'spot' ? 'dent' : defect;
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/**
 * The human loop, simulated end to end: synthetic parts with known truth go through the real
 * station (HTTP ingest, ONNX, policy, outbox) and the real embedded broker; a simulated technician
 * answers every review from the truth after a short delay, over MQTT; every K decisions a manager,
 * logged in like anyone else, approves the station's calibration as proposed. Any refused call stops
 * the simulation with an error: figures from a loop that never closed would be meaningless. Per window of parts: how many needed a person,
 * how many defects ended as pass (escapes), how many good parts ended as reject.
 *
 * The people are simulated too, and they make mistakes: each has an error rate (a defect accepted, a
 * good part rejected). Every part a person decides is queued for a second, blind opinion from the
 * other person (over the dashboard API, logged in as them), and a manager settles disagreements from
 * the truth. Reported beside the loop's figures: the station's category suggestions against the truth
 * (per window), Cohen's kappa between the people (and the value their error rates imply), and the
 * escapes left after adjudication against those a single person let through.
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
  /** the simulated people and their error rates (default: one who never errs) */
  people?: { name: string; errorRate: number }[];
  /** share of decided parts queued for a second opinion (default 1 with two people or more, else 0) */
  secondOpinionShare?: number;
}

export interface Window {
  parts: number;
  reviewRate: number;
  escapes: number;
  falseRejects: number;
  thresholds: { passBelow: number; rejectAbove: number };
  /** share of defective parts given a suggestion whose suggested category was the true one; null with none */
  suggestionAccuracy: number | null;
}

export interface Simulation {
  windows: Window[];
  totalEscapes: number;
  totalFalseRejects: number;
  decisions: number;
  thresholdChanges: number;
  /** suggestion accuracy of the last window, against the truth */
  suggestionAccuracy: number | null;
  /** Cohen's kappa on pass/reject between the simulated people, as the station reports it */
  agreementKappa: number | null;
  /** the kappa the people's error rates imply on the same parts */
  expectedKappa: number | null;
  /** defects a single person accepted (they would have been escapes without a second opinion) */
  singleEscapes: number;
  /** defects whose answer after second opinions and adjudication is still pass (goal 0) */
  settledEscapes: number;
  secondOpinions: number;
  disputes: number;
}

export async function simulate(options: SimulationOptions): Promise<Simulation> {
  const seed = options.seed ?? 1;
  const random = rng(seed);
  const modelDir = path.resolve(options.model ?? 'models/default');
  const manifest = await loadManifest(modelDir);
  // A new station starts cautious: a wide band that sends many parts to people.
  const start = {
    passBelow: round(manifest.thresholds.passBelow * 0.5),
    rejectAbove: round(manifest.thresholds.rejectAbove * 4),
  };

  const pool: { image: Buffer; defect: string | null }[] = [];
  const distinct = options.distinctParts ?? 400;
  for (let i = 0; i < distinct; i++) {
    const defect =
      random() < (options.defectShare ?? 0.2)
        ? CATEGORIES.bracket[Math.floor(random() * CATEGORIES.bracket.length)]
        : null;
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
    stations: [
      {
        id: 'sim-1',
        model: modelDir,
        thresholds: start,
        audit: { share: 0.02 },
        review: {
          deadlineSeconds: 60,
          defaultAction: 'reject',
          secondOpinionShare: options.secondOpinionShare ?? ((options.people?.length ?? 1) > 1 ? 1 : 0),
        },
        queue: { maxDepth: 1000 },
      },
    ],
  });
  const running = await run(config, { broker: true, edge: true, dashboard: false }, pino({ level: 'silent' }));
  const api = await loginApi(running.httpUrl, manager.user, manager.password).catch(async (error: unknown) => {
    await running.stop();
    throw error;
  });
  const people = options.people ?? [{ name: 'sim-technician', errorRate: 0 }];
  const sessions = new Map<string, { errorRate: number; api: typeof api }>();
  try {
    for (const person of people) {
      const password = randomBytes(12).toString('base64url');
      await api.post('/api/people', { name: person.name, role: 'technician', password });
      sessions.set(person.name, {
        errorRate: person.errorRate,
        api: await loginApi(running.httpUrl, person.name, password),
      });
    }
  } catch (error) {
    await running.stop();
    throw error;
  }
  /** A person's answer on a part: the truth, except at their error rate. */
  const answerOf = (
    defect: string | null | undefined,
    errorRate: number,
  ): { decision: 'accept' | 'reject'; category?: string } => {
    const wrong = random() < errorRate;
    const defective = defect !== undefined && defect !== null;
    if (defective !== wrong)
      return {
        decision: 'reject',
        category: categoryOf(
          defective ? (defect as string) : CATEGORIES.bracket[Math.floor(random() * CATEGORIES.bracket.length)],
        ),
      };
    return { decision: 'accept' };
  };
  const firsts = new Map<string, { user: string; decision: 'accept' | 'reject' }>();
  const seconds = new Map<string, 'accept' | 'reject'>();
  const settled = new Map<string, 'accept' | 'reject'>();
  const suggested = new Map<string, string>();
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
      if (review.suggestion) suggested.set(review.partId, review.suggestion.category);
      setTimeout(() => {
        const person = people[Math.floor(random() * people.length)];
        const decision = answerOf(defect, person.errorRate);
        firsts.set(review.partId, { user: person.name, decision: decision.decision });
        technician.publish(
          'loupe/sim/sim-1/decision',
          JSON.stringify({ partId: review.partId, user: person.name, ...decision }),
          { qos: 1 },
        );
        decisions += 1;
        if (decisions % (options.calibrateEvery ?? 50) === 0) calibrating = calibrating.then(calibrate);
      }, options.decisionDelayMs ?? 20);
    } else if (topic.endsWith('/error')) {
      refusals.push(payload.toString());
    } else if (topic.endsWith('/verdict')) {
      const verdict = JSON.parse(payload.toString()) as VerdictMessage;
      verdicts.set(verdict.partId, verdict);
      if (verdict.suggestion) suggested.set(verdict.partId, verdict.suggestion.category);
    }
  });
  await technician.subscribeAsync(['loupe/sim/sim-1/review/+', 'loupe/sim/sim-1/verdict', 'loupe/sim/sim-1/error'], {
    qos: 1,
  });

  async function calibrate(): Promise<void> {
    // wait for the station to have recorded the latest verdicts
    await new Promise((resolve) => setTimeout(resolve, 50));
    const proposal = await api.get<{ ok: boolean; thresholds?: { passBelow: number; rejectAbove: number } }>(
      '/api/stations/sim-1/calibration',
    );
    if (!proposal.ok || !proposal.thresholds) return; // not enough decisions yet: nothing to approve
    await api.post('/api/stations/sim-1/thresholds', { ...proposal.thresholds, basis: `${decisions} decisions` });
    thresholdChanges += 1;
  }

  /** Each person gives the second opinions waiting for them; the manager settles disagreements from the truth. */
  async function secondOpinions(): Promise<void> {
    for (const person of sessions.values()) {
      const { waiting } = await person.api.get<{ waiting: { partId: string }[] }>(
        '/api/stations/sim-1/second-opinions',
      );
      for (const { partId } of waiting) {
        const opinion = answerOf(truth.get(partId), person.errorRate);
        const given = await person.api.post<{ outcome: string }>(
          `/api/stations/sim-1/second-opinions/${partId}`,
          opinion,
        );
        seconds.set(partId, opinion.decision);
        if (given.outcome === 'disputed') disputes += 1;
      }
    }
    const { disputes: open } = await api.get<{ disputes: { partId: string }[] }>('/api/stations/sim-1/disputes');
    for (const { partId } of open) {
      const defect = truth.get(partId);
      const answer = defect
        ? { decision: 'reject' as const, category: categoryOf(defect) }
        : { decision: 'accept' as const };
      await api.post(`/api/stations/sim-1/disputes/${partId}`, answer);
      settled.set(partId, answer.decision);
    }
  }
  let disputes = 0;
  let agreementKappa: number | null = null;

  const windowCount = options.windows ?? 10;
  const windowSize = Math.ceil(options.parts / windowCount);
  const windows: Window[] = [];
  try {
    for (let w = 0; w < windowCount; w++) {
      const ids: string[] = [];
      const thresholds = await api.get<{ current: { passBelow: number; rejectAbove: number } }>(
        '/api/stations/sim-1/thresholds',
      );
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
      while (ids.some((id) => !verdicts.has(id)) && Date.now() < deadline && refusals.length === 0)
        await new Promise((r) => setTimeout(r, 20));
      await calibrating;
      if (refusals.length > 0)
        throw new Error(
          `the station refused ${refusals.length} message(s) of the simulation; the first: ${refusals[0]}`,
        );
      const missing = ids.filter((id) => !verdicts.has(id));
      if (missing.length > 0)
        throw new Error(
          `${missing.length} part(s) of window ${w + 1} got no verdict within 30 s (first: ${missing[0]})`,
        );
      await secondOpinions();
      const judged = ids.filter((id) => truth.get(id) && suggested.has(id));
      windows.push({
        suggestionAccuracy: judged.length
          ? round(
              judged.filter((id) => suggested.get(id) === categoryOf(truth.get(id) as string)).length / judged.length,
            )
          : null,
        parts: ids.length,
        reviewRate: round(ids.filter((id) => results.get(id)?.verdict === 'review').length / ids.length),
        escapes: ids.filter((id) => truth.get(id) !== null && verdicts.get(id)?.verdict === 'pass').length,
        falseRejects: ids.filter((id) => truth.get(id) === null && verdicts.get(id)?.verdict === 'reject').length,
        thresholds: thresholds.current,
      });
    }
    const agreement = await api.get<{ pairs: { kappa: number | null }[] }>('/api/stations/sim-1/agreement');
    agreementKappa = agreement.pairs[0]?.kappa ?? null;
  } finally {
    await technician.endAsync();
    await running.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const defective = (id: string) => truth.get(id) !== null && truth.get(id) !== undefined;
  // settled where the two disagreed; otherwise the first answer (agreed, or never asked again)
  const finalOf = (id: string) => settled.get(id) ?? firsts.get(id)?.decision;
  return {
    windows,
    suggestionAccuracy: windows.at(-1)?.suggestionAccuracy ?? null,
    agreementKappa: agreementKappa === null ? null : round(agreementKappa),
    expectedKappa: expectedKappa(
      [...seconds.keys()].map((id) => defective(id)),
      people.map((p) => p.errorRate),
    ),
    singleEscapes: [...firsts.entries()].filter(([id, f]) => defective(id) && f.decision === 'accept').length,
    settledEscapes: [...firsts.keys()].filter((id) => defective(id) && finalOf(id) === 'accept').length,
    secondOpinions: seconds.size,
    disputes,
    totalEscapes: windows.reduce((sum, w) => sum + w.escapes, 0),
    totalFalseRejects: windows.reduce((sum, w) => sum + w.falseRejects, 0),
    decisions,
    thresholdChanges,
  };
}

/**
 * Cohen's kappa two people with these error rates would reach on parts with this truth, in
 * expectation (each errs independently): observed agreement (both right or both wrong) against
 * the chance agreement of their reject rates.
 */
function expectedKappa(defective: boolean[], errorRates: number[]): number | null {
  if (defective.length === 0 || errorRates.length < 2) return null;
  const [e1, e2] = errorRates;
  const share = defective.filter(Boolean).length / defective.length;
  const observed = (1 - e1) * (1 - e2) + e1 * e2;
  const r1 = share * (1 - e1) + (1 - share) * e1;
  const r2 = share * (1 - e2) + (1 - share) * e2;
  const chance = r1 * r2 + (1 - r1) * (1 - r2);
  return chance >= 1 ? null : round((observed - chance) / (1 - chance));
}

/** The synthetic defect names are the station's default categories, except that a spot is a dent or spot. */
function categoryOf(defect: string): string {
  return defect === 'spot' ? 'dent' : defect;
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

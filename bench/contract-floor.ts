/**
 * The contract's floor: what any station answering Loupe's MQTT contract pays per part before it
 * does anything of its own. Frames in at QoS 1 on `frame/<partId>`, decode + `session.run` in the
 * station's own inspection worker (asked to keep no evidence), then a result and a verdict (or a
 * retained review) out at QoS 1, with at most `queue.concurrency` frames in the worker. No
 * parts-in-hand journal, no outbox on disk, no defect log, no evidence, no review state, no
 * metrics, no validation: none of what Loupe does so that nothing is lost. The pipeline bench
 * drives it as it drives a station (`loupe bench --only floor`), so the difference between the two
 * ratios is what Loupe itself adds.
 *
 *   node bench/contract-floor.js --config <loupe.yaml>     (the bench starts it)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { checkConfig } from '../config/load.ts';
import { topics } from '../contract/topics.ts';
import type { Result, Review, VerdictMessage } from '../contract/payloads.ts';
import { sendWithoutDelay } from '../shared/mqtt.ts';
import { rule, failSafe } from '../edge/src/decide/policy.ts';
import { InspectionPool } from '../edge/src/vision/pool.ts';

const file = process.argv[process.argv.indexOf('--config') + 1];
const config = checkConfig(parse(readFileSync(file, 'utf8')), file);
const station = config.stations[0];
const address = { prefix: config.mqtt.topicPrefix, line: config.line, station: station.id };
const pool = await InspectionPool.start(path.resolve(station.model), station.queue.workers);
const thresholds = station.thresholds ?? pool.manifest.thresholds;
const model = { id: pool.manifest.id, version: String(pool.manifest.version) };

const client = mqtt.connect(config.mqtt.url as string, { clientId: `loupe-floor-${process.pid}` });
sendWithoutDelay(client);
const waiting: { partId: string; image: Buffer; receivedAt: number }[] = [];
let running = 0;

function pump(): void {
  while (running < station.queue.concurrency && waiting.length > 0) {
    const frame = waiting.shift() as (typeof waiting)[number];
    running += 1;
    void pool
      .inspect(frame.image, { dir: '', partId: frame.partId, thresholds, from: Infinity })
      .then(
        (inspection) => answer(frame, inspection.score, inspection),
        () => answer(frame, null, { decodeMs: 0, inferMs: 0 }),
      )
      .finally(() => {
        running -= 1;
        pump();
      });
  }
}

function answer(
  frame: (typeof waiting)[number],
  score: number | null,
  timing: { decodeMs: number; inferMs: number },
): void {
  const ruling =
    score === null
      ? failSafe('model_error')
      : rule(score, { thresholds, autoReject: station.autoReject, auditShare: 0 }, 1);
  const at = new Date().toISOString();
  const result: Result = {
    schema: 'loupe/result@1',
    line: config.line,
    station: station.id,
    partId: frame.partId,
    verdict: ruling.verdict,
    score,
    thresholds,
    model,
    reasons: ruling.reasons,
    source: 'mqtt',
    timings: {
      queueMs: 0,
      decodeMs: timing.decodeMs,
      inferMs: timing.inferMs,
      totalMs: performance.now() - frame.receivedAt,
    },
    at,
  };
  client.publish(topics.result(address), JSON.stringify(result), { qos: 1 });
  if (ruling.verdict === 'review') {
    const now = Date.now();
    const review: Review = {
      schema: 'loupe/review@1',
      line: config.line,
      station: station.id,
      partId: frame.partId,
      score,
      thresholds,
      model,
      reasons: ruling.reasons,
      openedAt: new Date(now).toISOString(),
      deadline: new Date(now + station.review.deadlineSeconds * 1000).toISOString(),
      defaultAction: station.review.defaultAction,
      categories: station.defectCategories,
    };
    client.publish(topics.review(address, frame.partId), JSON.stringify(review), { qos: 1, retain: true });
    return;
  }
  const verdict: VerdictMessage = {
    schema: 'loupe/verdict@1',
    line: config.line,
    station: station.id,
    partId: frame.partId,
    verdict: ruling.verdict,
    decidedBy: 'model',
    score,
    at,
  };
  client.publish(topics.verdict(address), JSON.stringify(verdict), { qos: 1 });
}

client.on('message', (topic, payload) => {
  waiting.push({ partId: topic.slice(topic.lastIndexOf('/') + 1), image: payload, receivedAt: performance.now() });
  pump();
});
client.on('connect', () => {
  client.subscribe(`${topics.base(address)}/frame/+`, { qos: 1 }, () => {
    client.publish(topics.status(address), JSON.stringify({ state: 'online' }), { qos: 1, retain: true });
    console.log(JSON.stringify({ msg: 'ready' }));
  });
});
process.once('SIGTERM', () => {
  client.end(true);
  void pool.close().then(() => process.exit(0));
});

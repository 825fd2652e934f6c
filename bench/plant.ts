/**
 * `loupe bench --only plant`: the plant service against a throwaway PostgreSQL cluster and Debian's
 * Mosquitto, in four parts, all in one run:
 *
 * - throughput: stations' log events (a result and a verdict a part, 100 stations) published as fast
 *   as QoS 1 allows to the broker, through the real intake (shared subscription, spool, batches) and
 *   store (events, parts merged, partitions) until the last is committed: `plantEventsPerSecond`;
 * - the same rows by a bare batched INSERT (unnest, 1000 a statement) into a plain table, no MQTT, no
 *   merge: `plantInsertRatio` is the plant's wall time over the bare insert's;
 * - lag: events published at a steady 2,500 a second (50 lines × 2 stations × 25 parts/s, one event
 *   each) from publish to committed row: `plantLagP99Ms`;
 * - the manager's filtered query (PlantStore.page: a page of 100 and the total) over 10 million
 *   parts made inside PostgreSQL with generate_series over 30 days: `plantQueryP95Ms`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import pino from 'pino';
import type { LogMessage } from '../contract/payloads.ts';
import { PlantIntake } from '../plant/src/intake.ts';
import { postgresBin, startScratchCluster } from '../plant/src/scratch-cluster.ts';
import { INDEXES_SQL, PlantStore, TABLES_SQL, eventKey } from '../plant/src/store.ts';
import type { Filter } from '../edge/src/log/query.ts';
import { findExecutable, startMosquitto } from '../test/support/system.ts';

const STATIONS = 100;
const THROUGHPUT_EVENTS = 60_000;
const LAG_RATE = 2500;
const LAG_SECONDS = 4;
const QUERY_ROWS = 10_000_000;

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Part events as stations send them: result then verdict of each part, stations interleaved. */
function events(count: number, startAt: number, tag: string): LogMessage[] {
  const out: LogMessage[] = [];
  for (let i = 0; out.length < count; i++) {
    const station = i % STATIONS;
    const line = `line-${Math.floor(station / 2)}`;
    const at = new Date(startAt + i * 10).toISOString();
    const partId = `${tag}-${i}`;
    out.push({
      schema: 'loupe/log@1',
      inspectedAt: at,
      event: {
        kind: 'result',
        line,
        station: `cam-${station % 2}`,
        partId,
        at,
        verdict: 'reject',
        score: 0.9,
        thresholds: { passBelow: 0.3, rejectAbove: 0.7 },
        model: { id: 'default', version: '3' },
        reasons: ['above_reject'],
        source: 'camera',
        image: `${line}/cam/evidence-x.seg#${i}+4096`,
      },
    });
    out.push({
      schema: 'loupe/log@1',
      inspectedAt: at,
      event: {
        kind: 'verdict',
        line,
        station: `cam-${station % 2}`,
        partId,
        at,
        verdict: 'reject',
        decidedBy: 'model',
      },
    });
  }
  return out.slice(0, count);
}

const keyOf = (m: LogMessage) =>
  m.event.kind === 'tally' ? '' : `${m.event.line}/${m.event.station}/${m.event.partId}/${eventKey(m.event)}`;

export async function benchPlant(): Promise<Record<string, number>> {
  const bin = postgresBin();
  const mosquitto = findExecutable(['mosquitto', '/usr/sbin/mosquitto']);
  if (!bin || !mosquitto)
    throw new Error(
      'the plant benchmark needs PostgreSQL (apt-get install postgresql) and Mosquitto (apt-get install mosquitto)',
    );
  const cluster = await startScratchCluster(bin, [
    'shared_buffers=512MB',
    'maintenance_work_mem=512MB',
    'max_wal_size=4GB',
    'checkpoint_timeout=30min',
    'max_parallel_maintenance_workers=2',
  ]);
  const broker = await startMosquitto(mosquitto, ['max_inflight_messages 1000', 'max_queued_messages 0']);
  const spool = mkdtempSync(path.join(os.tmpdir(), 'loupe-bench-plant-'));
  const admin = new pg.Pool({ connectionString: cluster.url, max: 1 });
  const silent = pino({ level: 'silent' });
  const report: Record<string, number> = {};
  try {
    // ---- throughput through MQTT, intake and store ----
    const store = await PlantStore.open(cluster.url);
    let committed = 0;
    let waiting: { count: number; resolve: () => void } | null = null;
    const published = new Map<string, number>();
    const lags: number[] = [];
    const intake = new PlantIntake(
      store,
      {
        broker: { url: broker.url, clientId: 'bench-plant' },
        prefix: 'loupe/+',
        spoolDir: spool,
        committed: (messages, outcome) => {
          committed += outcome.added;
          const now = performance.now();
          for (const m of messages) {
            const sent = published.get(keyOf(m));
            if (sent !== undefined) lags.push(now - sent);
          }
          if (waiting && committed >= waiting.count) waiting.resolve();
        },
      },
      silent,
    );
    await intake.start();
    const until = (count: number) =>
      new Promise<void>((resolve) => (committed >= count ? resolve() : (waiting = { count, resolve })));
    const publishers = await Promise.all(
      [0, 1, 2, 3].map((n) => mqtt.connectAsync(broker.url, { clientId: `bench-edge-${n}` })),
    );
    const topicOf = (m: LogMessage) =>
      m.event.kind === 'tally' ? '' : `loupe/site-a/${m.event.line}/${m.event.station}/log`;
    // Warm-up: partitions made, statements planned.
    const warm = events(2000, Date.parse('2026-12-01T00:00:00Z'), 'warm');
    await Promise.all(warm.map((m, i) => publishers[i % 4].publishAsync(topicOf(m), JSON.stringify(m), { qos: 1 })));
    await until(warm.length);

    const batch = events(THROUGHPUT_EVENTS, Date.parse('2026-12-02T00:00:00Z'), 'run');
    const base = committed;
    const started = performance.now();
    await Promise.all(batch.map((m, i) => publishers[i % 4].publishAsync(topicOf(m), JSON.stringify(m), { qos: 1 })));
    await until(base + batch.length);
    const plantSeconds = (performance.now() - started) / 1000;
    report.plantEventsPerSecond = Math.round(batch.length / plantSeconds);

    // ---- the bare insert of the same rows ----
    await admin.query(
      'CREATE TABLE bare_events (line text, station text, part_id text, inspected_at timestamptz, event text, at timestamptz, body jsonb)',
    );
    const bareStarted = performance.now();
    for (let i = 0; i < batch.length; i += 1000) {
      const slice = batch.slice(i, i + 1000).map((m) => m.event as Exclude<LogMessage['event'], { kind: 'tally' }>);
      await admin.query(
        'INSERT INTO bare_events SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[], $7::jsonb[])',
        [
          slice.map((e) => e.line),
          slice.map((e) => e.station),
          slice.map((e) => e.partId),
          slice.map((e) => e.at),
          slice.map((e) => eventKey(e)),
          slice.map((e) => e.at),
          slice.map((e) => JSON.stringify(e)),
        ],
      );
    }
    const bareSeconds = (performance.now() - bareStarted) / 1000;
    report.plantBareEventsPerSecond = Math.round(batch.length / bareSeconds);
    report.plantInsertRatio = round(plantSeconds / bareSeconds, 2);

    // ---- lag at the sized load ----
    const steady = events(LAG_RATE * LAG_SECONDS, Date.parse('2026-12-03T00:00:00Z'), 'lag');
    lags.length = 0;
    const lagBase = committed;
    const perTick = LAG_RATE / 100;
    const lagStart = performance.now();
    for (let tick = 0; tick * perTick < steady.length; tick++) {
      const due = lagStart + tick * 10;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      for (const m of steady.slice(tick * perTick, (tick + 1) * perTick)) {
        published.set(keyOf(m), performance.now());
        publishers[tick % 4].publish(topicOf(m), JSON.stringify(m), { qos: 1 });
      }
    }
    await until(lagBase + steady.length);
    report.plantLagP50Ms = round(quantile(lags, 0.5));
    report.plantLagP99Ms = round(quantile(lags, 0.99));
    await Promise.all(publishers.map((p) => p.endAsync()));
    await intake.stop();
    await store.close();

    // ---- the manager's query over ten million parts ----
    await admin.query('CREATE DATABASE query10m');
    const queryUrl = cluster.url.replace(/\/postgres$/, '/query10m');
    const big = new PlantStore(new pg.Pool({ connectionString: queryUrl, max: 2 }));
    await big.pool.query(TABLES_SQL);
    const first = Date.parse('2026-11-01T00:00:00Z');
    const days = 30;
    await big.ensureDays(
      big.pool,
      Array.from({ length: days }, (_, d) => new Date(first + d * 86_400_000).toISOString()),
    );
    const fillStarted = performance.now();
    const step = (days * 86_400_000) / QUERY_ROWS;
    // Verdicts: ~60% reject, 30% pass, 5% hold, 5% open; a person decided ~40%; 100 stations on 50 lines.
    await big.pool.query(`
      INSERT INTO log_parts (line, station, part_id, inspected_at, has_result, model_verdict, score, pass_below, reject_above, model_id, model_version,
        reasons, source, image, heatmap, users, final, final_verdict, decided_by, category)
      SELECT 'line-' || (g % 50), 'cam-' || (g % 100), 'P-' || g, to_timestamp(${first / 1000} + (g - 1) * ${step / 1000}), true,
        CASE WHEN g % 10 < 6 THEN 'reject' ELSE 'review' END, (g % 1000) / 1000.0, 0.3, 0.7, 'default', 'v' || (g % 4),
        CASE WHEN g % 10 < 6 THEN ARRAY['above_reject'] WHEN g % 50 = 7 THEN ARRAY['audit'] ELSE ARRAY['borderline'] END, 'camera',
        'line/cam/evidence.seg#' || g || '+4096', NULL,
        CASE WHEN g % 5 < 2 THEN ARRAY['person-' || (g % 20)] ELSE '{}'::text[] END,
        NULL,
        CASE WHEN g % 20 = 19 THEN NULL WHEN g % 20 = 18 THEN 'hold' WHEN g % 10 < 6 THEN 'reject' ELSE 'pass' END,
        CASE WHEN g % 20 = 19 THEN NULL WHEN g % 5 < 2 THEN 'human' ELSE 'model' END,
        CASE WHEN g % 5 < 2 AND g % 10 < 6 THEN (ARRAY['scratch','dent','crack','missing','contamination','other'])[1 + g % 6] ELSE NULL END
      FROM generate_series(1, ${QUERY_ROWS}) AS g`);
    await big.pool.query(INDEXES_SQL);
    await big.pool.query('ANALYZE log_parts');
    report.plantQueryFillSeconds = Math.round((performance.now() - fillStarted) / 1000);
    const week = (d: number) => ({
      from: new Date(first + d * 86_400_000).toISOString(),
      to: new Date(first + (d + 7) * 86_400_000).toISOString(),
    });
    const day = (d: number) => ({
      from: new Date(first + d * 86_400_000).toISOString(),
      to: new Date(first + (d + 1) * 86_400_000).toISOString(),
    });
    const filters: Filter[] = [];
    for (let i = 0; i < 8; i++) {
      filters.push({ station: `cam-${(i * 13) % 100}`, verdict: 'reject', ...week(i * 3) });
      filters.push({ line: `line-${(i * 7) % 50}`, decidedBy: 'human', ...day(i * 3) });
      filters.push({ category: 'scratch', ...day(i * 2 + 1) });
      filters.push({ station: `cam-${(i * 17) % 100}`, modelVersion: `v${i % 4}`, ...week(i) });
      filters.push({ user: `person-${i}`, ...day(i * 3 + 2) });
      filters.push({ verdict: 'open', ...day(i * 3) });
    }
    for (const filter of filters.slice(0, 6)) await big.page(filter, { limit: 100, offset: 0 }); // warm the cache once per shape
    const times: number[] = [];
    for (const filter of filters) {
      const t = performance.now();
      await big.page(filter, { limit: 100, offset: 0 });
      times.push(performance.now() - t);
    }
    report.plantQueryP50Ms = round(quantile(times, 0.5));
    report.plantQueryP95Ms = round(quantile(times, 0.95));
    await big.close();
  } finally {
    await admin.end().catch(() => undefined);
    await broker.stop();
    cluster.stop();
    rmSync(spool, { recursive: true, force: true });
  }
  return report;
}

/**
 * The defect log under a month of a busy line: 100,000 inspections, 5% stored in full (reviews
 * decided by people, rejects), fed through the real DefectLog in slices as stations would, while the
 * event loop's longest stall is measured. The raw cost of the same work — the same JSON lines
 * appended to one file, fed by the same driver — is measured in the same run, so the log's cost
 * is a ratio. Then a filtered query and the analytics over the whole month, and reopening it.
 *
 *   npx tsx bench/log.ts            prints one JSON object
 */
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Result } from '../contract/payloads.ts';
import { DefectLog } from '../edge/src/log/defect-log.ts';
import type { VerdictRecord } from '../edge/src/log/log-events.ts';
import { resultEvent } from '../edge/src/log/entry.ts';
import { parseFilter, paginate, select } from '../edge/src/log/query.ts';
import { analyse } from '../edge/src/log/analytics.ts';

export interface LogBenchOptions {
  inspections?: number;
  storedShare?: number;
  days?: number;
  /** inspections handed over per turn of the event loop (a station's burst) */
  slice?: number;
}

type Step = {
  result: Result;
  decision?: { user: string; decision: 'accept' | 'reject'; category?: string };
  verdict: VerdictRecord;
};

/** The month, generated up front so both runs get the very same inspections. */
function month(n: number, storedShare: number, days: number): Step[] {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const start = Date.parse('2026-10-26T00:00:00.000Z');
  const spacing = (days * 86_400_000) / n;
  const categories = ['scratch', 'dent', 'crack', 'missing', 'contamination', 'other'];
  const steps: Step[] = [];
  for (let i = 0; i < n; i++) {
    const at = new Date(start + i * spacing).toISOString();
    const station = i % 2 === 0 ? 'cam-1' : 'cam-2';
    const stored = random() < storedShare;
    const reviewed = stored && random() < 0.7;
    const score = stored ? (reviewed ? 2 + random() * 8 : 10 + random() * 5) : random() * 2;
    const verdict = stored ? (reviewed ? 'review' : 'reject') : 'pass';
    const reasons: Result['reasons'] =
      verdict === 'review' ? ['borderline'] : verdict === 'reject' ? ['above_reject'] : [];
    const result: Result = {
      schema: 'loupe/result@1',
      line: 'line-1',
      station,
      partId: `p-${i}`,
      verdict,
      score,
      thresholds: { passBelow: 2, rejectAbove: 10 },
      model: { id: 'bracket', version: i < n / 2 ? '3' : '4' },
      reasons,
      source: 'synthetic',
      timings: { queueMs: 0.1, decodeMs: 3, inferMs: 2, totalMs: 5.2 },
      at,
    };
    if (!reviewed) {
      steps.push({
        result,
        verdict: {
          line: 'line-1',
          station,
          partId: result.partId,
          verdict: verdict === 'reject' ? 'reject' : 'pass',
          decidedBy: 'model',
          at,
        },
      });
      continue;
    }
    const reject = random() < 0.5;
    const user = ['ana', 'bo', 'cy'][i % 3];
    const category = reject ? categories[Math.floor(random() * categories.length)] : undefined;
    steps.push({
      result,
      decision: { user, decision: reject ? 'reject' : 'accept', ...(category ? { category } : {}) },
      verdict: {
        line: 'line-1',
        station,
        partId: result.partId,
        verdict: reject ? 'reject' : 'pass',
        decidedBy: 'human',
        user,
        ...(category ? { category } : {}),
        at,
      },
    });
  }
  return steps;
}

/** Feeds the steps in slices, one slice per turn of the event loop, and reports the longest stall. */
async function drive(
  steps: Step[],
  slice: number,
  feed: (step: Step) => void,
  settle: () => Promise<void>,
): Promise<{ ms: number; maxStallMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const startedAt = performance.now();
  for (let i = 0; i < steps.length; i += slice) {
    for (const step of steps.slice(i, i + slice)) feed(step);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await settle();
  const ms = performance.now() - startedAt;
  histogram.disable();
  return { ms, maxStallMs: histogram.max / 1e6 };
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function benchLog(options: LogBenchOptions = {}): Promise<Record<string, number>> {
  const n = options.inspections ?? 100_000;
  const steps = month(n, options.storedShare ?? 0.05, options.days ?? 30);
  const slice = options.slice ?? 50;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-log-'));
  try {
    // Raw: the stored parts' events as JSON lines, appended to one file every 200 ms; nothing counted, nothing indexed.
    const rawFile = path.join(dir, 'raw.jsonl');
    let pending: string[] = [];
    let rawBytes = 0;
    let writing = Promise.resolve();
    const writeRaw = () => {
      const text = pending.join('');
      pending = [];
      rawBytes += Buffer.byteLength(text);
      writing = writing.then(() => appendFile(rawFile, text));
    };
    const rawTimer = setInterval(writeRaw, 200);
    const raw = await drive(
      steps,
      slice,
      (step) => {
        if (step.result.verdict === 'pass') return;
        pending.push(
          `${JSON.stringify(resultEvent(step.result, { image: `${step.result.line}/${step.result.station}/${step.result.partId}.img` }))}\n`,
        );
        const { line, station, partId, at } = step.verdict;
        if (step.decision)
          pending.push(`${JSON.stringify({ kind: 'decision', line, station, partId, at, ...step.decision })}\n`);
        pending.push(`${JSON.stringify({ kind: 'verdict', ...step.verdict })}\n`);
      },
      async () => {
        clearInterval(rawTimer);
        writeRaw();
        await writing;
      },
    );

    const log = await DefectLog.open(path.join(dir, 'log'));
    const logged = await drive(
      steps,
      slice,
      (step) => {
        const { result } = step;
        log.result(
          result,
          result.verdict === 'pass' ? {} : { image: `${result.line}/${result.station}/${result.partId}.img` },
        );
        if (step.decision)
          log.decision(result.line, result.station, { partId: result.partId, ...step.decision }, step.verdict.at);
        log.verdict(step.verdict);
      },
      () => log.close(),
    );

    // A manager's question over the whole month: one station's human rejects of one model version.
    const parsed = parseFilter(
      {
        station: 'cam-2',
        verdict: 'reject',
        decidedBy: 'human',
        modelVersion: '4',
        from: steps[0].result.at,
        to: new Date(Date.parse(steps[n - 1].result.at) + 1).toISOString(),
        limit: '100',
      },
      { paging: true },
    );
    if (!parsed.ok) throw new Error(parsed.message);
    const timed = (run: () => unknown) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        run();
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[2];
    };
    const queryMs = timed(() => paginate(select(log.all(), parsed.filter), parsed.page));
    const shifts = [
      { name: 'early', start: '06:00' },
      { name: 'late', start: '14:00' },
      { name: 'night', start: '22:00' },
    ];
    const analyticsMs = timed(() => analyse(select(log.all(), {}), log.countsBetween(), {}, shifts));
    const openedAt = performance.now();
    const reopened = await DefectLog.open(path.join(dir, 'log'));
    const openMs = performance.now() - openedAt;
    if (reopened.all().length !== log.all().length || reopened.problems.length > 0)
      throw new Error('the reopened log differs from the one written');
    await reopened.close();

    return {
      logBytesPerInspection: round(log.bytesWritten / n, 1),
      logMaxStallMs: round(logged.maxStallMs),
      logQueryMs: round(queryMs),
      logAnalyticsMs: round(analyticsMs, 1),
      logOpenMs: Math.round(openMs),
      logStoredEntries: log.all().length,
      logMsPerThousand: round((logged.ms / n) * 1000),
      rawLogMaxStallMs: round(raw.maxStallMs),
      rawLogBytesPerInspection: round(rawBytes / n, 1),
      logOverheadRatio: round(logged.ms / raw.ms),
      logBytesRatio: round(log.bytesWritten / rawBytes),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  console.log(JSON.stringify(await benchLog()));
}

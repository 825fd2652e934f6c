/**
 * `loupe bench [--json] [--only a,b] [--runs N]` — every benchmark of the project in one run, one
 * JSON object. Each suite compares against the raw cost of the same work measured in the same run, so
 * the figures are ratios that survive a noisy, shared machine; `--runs N` runs each suite N times and
 * reports the median of each figure, for a machine whose speed moves from one minute to the next.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';

/**
 * A suite may hand over folders to remove once every suite and run is done (see `keepFolder`);
 * `modelDir` is `--model`, for the suites that run a model, and `framesDir` is `--frames`, images of
 * that model's kind for the pipeline suites.
 */
type Suite = (
  removeLater: (dir: string) => void,
  modelDir?: string,
  framesDir?: string,
) => Promise<Record<string, number>>;

const suites: Record<string, { about: string; run: Suite }> = {
  pipeline: {
    about: 'parts/s at saturation, latency at 50% / 90% load, CPU per part, overhead over raw decode + run, RSS',
    run: async (removeLater, modelDir, framesDir) =>
      (await import('../bench/pipeline.ts')).benchPipeline({ keepFolder: removeLater, modelDir, framesDir }),
  },
  floor: {
    about:
      "the same pipeline bench against the contract alone (MQTT in, the station's worker, result and verdict out): floor* keys, and overheadOverFloor with pipeline",
    run: async (removeLater) => {
      const floor = await (
        await import('../bench/pipeline.ts')
      ).benchPipeline({ keepFolder: removeLater, station: 'floor', latencyParts: 1 });
      return {
        floorOverheadRatio: floor.overheadRatio,
        floorMainThreadMsPerPart: floor.mainThreadMsPerPart,
        floorCpuMsPerPart: floor.cpuMsPerPart,
        floorRawMsPerPart: floor.rawMsPerPart,
        floorPartsPerSecond: floor.partsPerSecond,
      };
    },
  },
  shadow: {
    about:
      'the pipeline bench without and with a candidate in shadow (the same model), same run: parts/s and latency, frames the candidate scored and skipped (only with --only)',
    run: async (removeLater, modelDir, framesDir) => {
      const { benchPipeline } = await import('../bench/pipeline.ts');
      const options = { keepFolder: removeLater, modelDir, framesDir, latencyParts: 200 };
      const alone = await benchPipeline(options);
      const shadowed = await benchPipeline({ ...options, shadowModel: modelDir ?? path.resolve('models', 'default') });
      return {
        partsPerSecondAlone: alone.partsPerSecond,
        partsPerSecondShadowed: shadowed.partsPerSecond,
        throughputRatio: Math.round((shadowed.partsPerSecond / alone.partsPerSecond) * 1000) / 1000,
        p50MsAlone: alone.p50Ms,
        p50MsShadowed: shadowed.p50Ms,
        p99MsAlone: alone.p99Ms,
        p99MsShadowed: shadowed.p99Ms,
        p99MsAt90Alone: alone.p99MsAt90,
        p99MsAt90Shadowed: shadowed.p99MsAt90,
        shadowScored: shadowed.shadowScored,
        shadowSkipped: shadowed.shadowSkipped,
        benchParts: shadowed.benchParts,
      };
    },
  },
  vision: {
    about: 'model pre/post-processing over a bare session.run',
    run: async (_removeLater, modelDir) => (await import('../bench/vision.ts')).benchVision({ modelDir }),
  },
  log: {
    about: 'defect log: 100k inspections (5% stored): bytes per inspection, longest stall, month query, vs raw appends',
    run: async () => (await import('../bench/log.ts')).benchLog(),
  },
  opcua: {
    about:
      'PLC handshake: OPC UA trigger → ResultReady p50 / p99 beside the MQTT trigger → result, same station, same run',
    run: async () => (await import('../bench/opcua.ts')).benchOpcUa(),
  },
  plant: {
    about:
      'plant service: log events/s into PostgreSQL through MQTT (vs a bare batched insert), lag p99 at 2,500 events/s, manager query p95 over 10M parts',
    run: async () => (await import('../bench/plant.ts')).benchPlant(),
  },
  camera: {
    about:
      'camera: fps sustained from a 1280×1024 MJPEG stream at 25 fps, CPU per frame (acquisition + decode) over a bare decode, trigger-to-result p50 / p99',
    run: async () => (await import('../bench/camera.ts')).benchCamera(),
  },
  screen: {
    about:
      'review opened at the edge to part drawn in Chromium, p50 / p99, against a bare WebSocket to the same browser',
    run: async () => (await import('../bench/screen.ts')).benchScreen(),
  },
};

export default async function bench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      only: { type: 'string' },
      runs: { type: 'string' },
      model: { type: 'string' },
      frames: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      [
        'Usage: loupe bench [--json] [--only SUITE,...] [--runs N] [--model DIR] [--frames DIR]',
        '',
        '  --runs N     run each suite N times and report the median of each figure (default 1)',
        '  --model DIR  the model folder the pipeline and vision suites run (default models/default)',
        "  --frames DIR images of that model's kind for the pipeline suites, sent as ~1 MP JPEG (default: synthetic brackets)",
        '',
        'Suites:',
        ...Object.entries(suites).map(([n, s]) => `  ${n.padEnd(9)} ${s.about}`),
      ].join('\n'),
    );
    return 0;
  }
  const runs = Number(values.runs ?? 1);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    console.error(`loupe bench: --runs must be a whole number from 1 to 50, not ${values.runs}`);
    return 2;
  }
  const modelDir = values.model ? path.resolve(values.model) : undefined;
  if (modelDir && !existsSync(path.join(modelDir, 'manifest.json'))) {
    console.error(`loupe bench: --model ${values.model} is not a model folder (no manifest.json)`);
    return 2;
  }
  const framesDir = values.frames ? path.resolve(values.frames) : undefined;
  if (framesDir && !existsSync(framesDir)) {
    console.error(`loupe bench: --frames ${values.frames} does not exist`);
    return 2;
  }
  // `shadow` runs the pipeline bench twice more: only when asked for.
  const chosen = values.only ? values.only.split(',') : Object.keys(suites).filter((name) => name !== 'shadow');
  const unknown = chosen.filter((name) => !suites[name]);
  if (unknown.length > 0) {
    console.error(`loupe bench: unknown suite ${unknown.join(', ')}; suites: ${Object.keys(suites).join(', ')}`);
    return 2;
  }
  const report: Record<string, unknown> = {};
  // Removed at the very end: a run's clean-up must not slow the file creations of the runs after it.
  const folders: string[] = [];
  try {
    for (const name of chosen) {
      const results: Record<string, number>[] = [];
      for (let run = 1; run <= runs; run++) {
        if (!values.json) console.error(`bench: ${name}${runs > 1 ? ` (run ${run} of ${runs})` : ''}…`);
        results.push(await suites[name].run((dir) => folders.push(dir), modelDir, framesDir));
      }
      Object.assign(report, runs === 1 ? results[0] : medianOfRuns(results));
    }
  } finally {
    await Promise.all(folders.map((dir) => rm(dir, { recursive: true, force: true })));
  }
  const added = overFloor(report);
  if (added !== undefined) report.overheadOverFloor = added;
  report.machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (values.json) console.log(JSON.stringify(report));
  else for (const [key, value] of Object.entries(report)) console.log(`${key.padEnd(28)} ${value}`);
  return 0;
}

/**
 * What Loupe adds to the contract's floor, when both suites ran: `overheadRatio` over
 * `floorOverheadRatio`. The floor's ratio is what any station answering the contract pays on this
 * machine (mqtt.js, a worker thread, the guest's wake-ups); this is what Loupe's parts-in-hand
 * journal, outbox, defect log, evidence and metrics cost on top of it.
 */
export function overFloor(report: Record<string, unknown>): number | undefined {
  const { overheadRatio: loupe, floorOverheadRatio: floor } = report;
  if (typeof loupe !== 'number' || typeof floor !== 'number' || !(floor > 0)) return undefined;
  return Math.round((loupe / floor) * 1000) / 1000;
}

/**
 * Each figure's median over several runs of a suite, and how many runs there were; the overhead
 * ratios (a station's and the contract floor's) also keep every run's value, since their spread is
 * what a reader of the median should see.
 */
export function medianOfRuns(results: Record<string, number>[]): Record<string, number | number[]> {
  const merged: Record<string, number | number[]> = { runs: results.length };
  const keys = new Set(results.flatMap((result) => Object.keys(result)));
  for (const key of keys) {
    const values = results
      .map((result) => result[key])
      .filter((value) => typeof value === 'number' && Number.isFinite(value));
    if (values.length === 0) continue;
    values.sort((a, b) => a - b);
    const middle = values.length >> 1;
    const median = values.length % 2 === 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    merged[key] = Math.round(median * 1000) / 1000;
  }
  for (const key of ['overheadRatio', 'floorOverheadRatio']) {
    const ratios = results.map((result) => result[key]).filter((value) => typeof value === 'number');
    if (ratios.length > 0) merged[`${key}Runs`] = ratios;
  }
  return merged;
}

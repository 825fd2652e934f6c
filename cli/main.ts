/**
 * `loupe` — one command line for the whole product. Each subcommand lives in its own module and
 * is loaded only when asked for, so `loupe --help` stays instant.
 */
type Command = { summary: string; load: () => Promise<{ default: (argv: string[]) => Promise<number> }> };

const commands: Record<string, Command> = {
  start: { summary: 'run everything in one process: embedded broker (unless mqtt.url is set), stations, dashboard', load: () => import('./start.ts') },
  edge: { summary: 'run the edge stations only (connects to mqtt.url or the local broker)', load: () => import('./edge.ts') },
  dashboard: { summary: 'run the dashboard only', load: () => import('./dashboard.ts') },
  synth: { summary: 'write a synthetic dataset in the MVTec AD layout', load: () => import('./synth.ts') },
  fit: { summary: 'fit an anomaly model on good parts and write model.onnx + manifest.json', load: () => import('./fit.ts') },
  eval: { summary: 'evaluate a model on a dataset: AUROC, auto-pass share at zero escapes, speed', load: () => import('./eval.ts') },
  calibrate: { summary: "propose pass_below / reject_above from a station's decided history", load: () => import('./calibrate.ts') },
  export: { summary: 'export decided parts with their labels as an MVTec AD dataset', load: () => import('./export.ts') },
  simulate: { summary: 'run the human loop on synthetic parts: review rate, escapes, false rejects over time', load: () => import('./simulate.ts') },
  bench: { summary: 'measure throughput, latency and overhead against raw decode + inference', load: () => import('./bench.ts') },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    'Usage: loupe <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Common options (start, edge, dashboard):',
    '  --config FILE     YAML configuration (default: config/loupe.yaml)',
    '  --http-port N     dashboard and ingest HTTP port (overrides http.port)',
    '  --mqtt-port N     embedded broker port (overrides mqtt.port)',
    '',
    'Run `loupe <command> --help` for the options of one command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`loupe: unknown command "${name}"\n\n${usage()}`);
    return 1;
  }
  const module = await command.load();
  return module.default(rest);
}

// A command that failed ends the process: a half-started one (a broker client retrying, a worker
// thread) would otherwise keep it alive, and a supervisor would never see it fail.
main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);

/**
 * `loupe` — one command line for the whole product. Each subcommand lives in its own module and
 * is loaded only when asked for, so `loupe --help` stays instant.
 */
/** `usage`: the command's options, repeated here so `loupe --help` lists them all without loading any command. */
type Command = {
  summary: string;
  usage: string[];
  load: () => Promise<{ default: (argv: string[]) => Promise<number> }>;
};

const RUN_OPTIONS = '[--config FILE] [--http-port N] [--mqtt-port N] [--mqtt-url URL]';

const commands: Record<string, Command> = {
  start: {
    summary: 'run everything in one process: embedded broker (unless mqtt.url is set), stations, dashboard',
    usage: [RUN_OPTIONS],
    load: () => import('./start.ts'),
  },
  edge: {
    summary: 'run the edge stations only (connects to mqtt.url or the local broker)',
    usage: [RUN_OPTIONS],
    load: () => import('./edge.ts'),
  },
  dashboard: { summary: 'run the dashboard only', usage: [RUN_OPTIONS], load: () => import('./dashboard.ts') },
  plant: {
    summary: "the plant service: every station's log events into PostgreSQL, the defect log and the fleet over them",
    usage: [
      '[--config FILE] [--database URL] [--mqtt-url URL] [--http-port N] [--prefix P] [--group NAME] [--edge LINE=URL ...]',
    ],
    load: () => import('./plant.ts'),
  },
  synth: {
    summary: 'write a synthetic dataset in the MVTec AD layout',
    usage: ['--out DIR [--seed S] [--count N] [--category bracket|brushed]...'],
    load: () => import('./synth.ts'),
  },
  fit: {
    summary: 'fit an anomaly model on good parts and write model.onnx + manifest.json',
    usage: [
      '--data DIR/CATEGORY --out models/NAME [--method auto|aligned|texture] [--texture] [--pretrained stride4|stride4-pair] [--id ID] [--version V]',
      '--from-decisions --out models/NAME [--config FILE] [--station S] [--data DIR/CATEGORY]',
    ],
    load: () => import('./fit.ts'),
  },
  eval: {
    summary:
      'evaluate a model on a dataset: AUROC, auto-pass share at zero escapes, the split at its thresholds, speed',
    usage: ['--model models/NAME --data DIR/CATEGORY [--json]'],
    load: () => import('./eval.ts'),
  },
  calibrate: {
    summary: "propose pass_below / reject_above from a station's decided history",
    usage: ['[--config FILE] [--station S] [--json]'],
    load: () => import('./calibrate.ts'),
  },
  export: {
    summary: 'export decided parts with their labels as an MVTec AD dataset',
    usage: ['--out DIR [--config FILE] [--station S] [--days N]'],
    load: () => import('./export.ts'),
  },
  simulate: {
    summary: 'run the human loop on synthetic parts: review rate, escapes, false rejects over time',
    usage: ['[--parts N] [--windows W] [--calibrate-every K] [--seed S] [--people a:0.1,b:0.05] [--json]'],
    load: () => import('./simulate.ts'),
  },
  model: {
    summary: 'import an Anomalib or YOLO export as a Loupe model; record or check its known-good images',
    usage: [
      'import DIR [--out models/NAME] [--id ID] [--version V] [--ok-class NAME] [--size N] [--pass-below X] [--reject-above X] [--references FOLDER]',
      'references MODEL_DIR FILE...',
      'check MODEL_DIR',
    ],
    load: () => import('./model.ts'),
  },
  people: {
    summary: 'who may use the dashboard: list, add, set-password (recovers admin access), remove',
    usage: ['list|add NAME [--role ROLE]|set-password NAME|remove NAME [--config FILE]'],
    load: () => import('./people.ts'),
  },
  bench: {
    summary: 'measure throughput, latency and overhead against raw decode + inference',
    usage: ['[--json] [--only SUITE,...] [--runs N] [--model DIR] [--frames DIR]'],
    load: () => import('./bench.ts'),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    'Usage: loupe <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).flatMap(([name, c]) => [
      `  ${name.padEnd(width)}  ${c.summary}`,
      ...c.usage.map((line) => `  ${' '.repeat(width)}    loupe ${name} ${line}`),
    ]),
    '',
    'Common options (start, edge, dashboard):',
    '  --config FILE     YAML configuration (default: config/loupe.yaml); relative paths in it start at its folder',
    '  --http-port N     dashboard and ingest HTTP port (overrides http.port; 0 picks a free port)',
    '  --mqtt-port N     embedded broker port (overrides mqtt.port; 0 picks a free port)',
    '  --mqtt-url URL    use this broker instead of embedding one (overrides mqtt.url)',
    '  --help, -h        this text; `loupe <command> --help` for one command',
    '',
    'Environment:',
    '  LOUPE_MQTT_USERNAME, LOUPE_MQTT_PASSWORD   broker credentials (override mqtt.username / mqtt.password)',
    '  LOUPE_ADMIN_USER, LOUPE_ADMIN_PASSWORD     the first admin, made on first start when nobody is registered',
    "  LOUPE_DATABASE_URL                         plant: PostgreSQL connection string (else --database, else libpq's PG* variables)",
    '  LOUPE_EDGE_USER, LOUPE_EDGE_PASSWORD       plant: its account on the edge boxes (images, model roll-outs)',
    '  LOUPE_LOG_LEVEL                            trace, debug, info (default), warn, error',
    '  LOUPE_LOG_FORMAT                           pretty (default on a terminal) or json (default otherwise)',
    '  LOUPE_BENCH_WORKERS                        inspection workers of the pipeline bench run directly (npx tsx bench/pipeline.ts)',
    '  LOUPE_SKIMAGE_DATA                         tests: folder of the scikit-image texture images (test/lab/textures.test.ts)',
    "  LOUPE_DOC_SCREENSHOTS                      tests: 1 writes the dashboard tests' screenshots into docs/images",
    '  ${NAME} in the config file                 replaced by the environment variable NAME',
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

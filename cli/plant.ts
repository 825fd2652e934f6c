/** `loupe plant`: the plant service (plant/src/service.ts): every station's log events into PostgreSQL, and the log's routes over them. */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import { createLogger } from './log.ts';
import { DEFAULT_CONFIG } from './options.ts';
import { runPlant } from '../plant/src/service.ts';
import type { EdgeBox } from '../plant/src/images.ts';

const HELP = `Usage: loupe plant [--config FILE] [--database URL] [--mqtt-url URL] [--http-port N] [--prefix P] [--edge LINE=URL ...]

  --config FILE     YAML configuration (default ${DEFAULT_CONFIG}): mqtt (the plant broker), http, dataDir, dashboard, log.shifts
  --database URL    PostgreSQL, e.g. postgres://loupe@db.plant/loupe (default: LOUPE_DATABASE_URL, else libpq's PG* variables)
  --mqtt-url URL    the plant broker (overrides mqtt.url)
  --http-port N     port of the plant's log pages and API (overrides http.port)
  --prefix P        topic prefix of the stations, + allowed (default mqtt.topicPrefix)
  --group NAME      shared-subscription group (default loupe-plant): instances in one group split the load
  --edge LINE=URL   the edge box that runs a line's stations (its images are fetched from it); repeatable

Environment: LOUPE_EDGE_USER, LOUPE_EDGE_PASSWORD (the plant's account on the edge boxes), LOUPE_MQTT_USERNAME, LOUPE_MQTT_PASSWORD.`;

export default async function plant(argv: string[]): Promise<number> {
  let values: {
    config?: string;
    database?: string;
    'mqtt-url'?: string;
    'http-port'?: string;
    prefix?: string;
    group?: string;
    edge?: string[];
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        database: { type: 'string' },
        'mqtt-url': { type: 'string' },
        'http-port': { type: 'string' },
        prefix: { type: 'string' },
        group: { type: 'string' },
        edge: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`loupe plant: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const edges = new Map<string, EdgeBox>();
  for (const item of values.edge ?? []) {
    const [line, url] = [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)];
    if (!line || !/^https?:\/\//.test(url)) {
      console.error(`--edge: got ${JSON.stringify(item)}; allowed: LINE=http(s)://host:port`);
      return 2;
    }
    edges.set(line, { url });
  }
  let config;
  try {
    const httpPort = values['http-port'] === undefined ? undefined : Number(values['http-port']);
    config = await loadConfig(values.config ?? DEFAULT_CONFIG, { httpPort, mqttUrl: values['mqtt-url'] });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const log = createLogger();
  const mqttUrl = config.mqtt.url ?? `mqtt://${config.mqtt.host}:${config.mqtt.port}`;
  const user = process.env.LOUPE_EDGE_USER;
  const password = process.env.LOUPE_EDGE_PASSWORD;
  let running;
  try {
    running = await runPlant(
      config,
      {
        broker: {
          url: mqttUrl,
          username: config.mqtt.username,
          password: config.mqtt.password,
          clientId: config.mqtt.clientId ? `${config.mqtt.clientId}-plant` : undefined,
        },
        database: values.database ?? process.env.LOUPE_DATABASE_URL,
        prefix: values.prefix ?? config.mqtt.topicPrefix,
        group: values.group,
        edges,
        edgeCredentials: user && password ? { user, password } : null,
      },
      log,
    );
  } catch (error) {
    log.fatal({ err: (error as Error).message }, 'could not start the plant service');
    return 1;
  }
  console.error(`\n  Loupe plant: ${running.httpUrl}log\n  MQTT broker: ${mqttUrl}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  log.info('shutting down');
  await running.stop();
  return 0;
}

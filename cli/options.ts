/** Options shared by `loupe start`, `loupe edge` and `loupe dashboard`. */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

export const DEFAULT_CONFIG = 'config/loupe.yaml';

export interface Parsed {
  config: Config;
  file: string;
}

export async function parseRunOptions(argv: string[], command: string): Promise<Parsed | number> {
  let values: { config?: string; 'http-port'?: string; 'mqtt-port'?: string; 'mqtt-url'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'http-port': { type: 'string' },
        'mqtt-port': { type: 'string' },
        'mqtt-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`loupe ${command}: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(
      [
        `Usage: loupe ${command} [--config FILE] [--http-port N] [--mqtt-port N] [--mqtt-url URL]`,
        '',
        `  --config FILE    YAML configuration (default ${DEFAULT_CONFIG})`,
        '  --http-port N    HTTP port of the dashboard and frame ingest (overrides http.port; 0 picks a free port)',
        '  --mqtt-port N    port of the embedded broker (overrides mqtt.port; 0 picks a free port)',
        '  --mqtt-url URL   use this broker instead of embedding one (overrides mqtt.url)',
        '',
        'Environment: LOUPE_MQTT_USERNAME, LOUPE_MQTT_PASSWORD (broker credentials), LOUPE_ADMIN_USER,',
        'LOUPE_ADMIN_PASSWORD (the first admin), LOUPE_LOG_LEVEL, LOUPE_LOG_FORMAT (pretty or json).',
      ].join('\n'),
    );
    return 0;
  }
  const port = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new ConfigError(`--${name}`, [
        `--${name}: got ${JSON.stringify(value)}; allowed: an integer from 0 to 65535`,
      ]);
    return n;
  };
  const file = values.config ?? DEFAULT_CONFIG;
  try {
    const config = await loadConfig(file, {
      httpPort: port('http-port', values['http-port']),
      mqttPort: port('mqtt-port', values['mqtt-port']),
      mqttUrl: values['mqtt-url'],
    });
    return { config, file };
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

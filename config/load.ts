/**
 * Reads a YAML config file, fills defaults, substitutes `${ENV}` references and checks it against
 * the schema. Every problem is reported with the key path, the bad value and what is allowed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigSchema, type Config } from './schema.ts';
import { checkStationCameras } from './camera.ts';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface Overrides {
  httpPort?: number;
  mqttPort?: number;
  mqttUrl?: string;
}

// verbose: errors carry the offending data and schema, so messages can quote both.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const validate = ajv.compile<Config>(ConfigSchema);

export async function loadConfig(
  file: string,
  overrides: Overrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new ConfigError(file, [`not valid YAML${where}: ${(error as Error).message.split('\n')[0]}`]);
  }
  const config = checkConfig(raw, file, overrides, env);
  resolvePaths(config, raw, path.dirname(path.resolve(file)));
  return config;
}

/**
 * Paths written in a config file are relative to the file's folder, so a file means the same thing
 * whatever folder `loupe` is started from (a systemd unit, a shell in another folder). Defaults not
 * written in the file (`models/default`, `.data`) stay relative to the working directory.
 */
function resolvePaths(config: Config, raw: unknown, dir: string): void {
  const written = raw as {
    dataDir?: unknown;
    mqtt?: { tls?: Record<string, unknown> };
    stations?: { model?: unknown; ingest?: { folder?: { path?: unknown } } }[];
  } | null;
  const from = (value: string) => path.resolve(dir, value);
  if (typeof written?.dataDir === 'string') config.dataDir = from(config.dataDir);
  const tls = config.mqtt.tls;
  if (tls)
    for (const key of ['ca', 'cert', 'key'] as const)
      if (typeof written?.mqtt?.tls?.[key] === 'string' && tls[key]) tls[key] = from(tls[key]);
  config.stations.forEach((station, index) => {
    const own = Array.isArray(written?.stations) ? written.stations[index] : undefined;
    if (typeof own?.model === 'string') station.model = from(station.model);
    if (station.ingest.folder && typeof own?.ingest?.folder?.path === 'string')
      station.ingest.folder.path = from(station.ingest.folder.path);
  });
}

/** Validates an already-parsed config object; exported for tests and for configs built in code. */
export function checkConfig(
  raw: unknown,
  file = '<config>',
  overrides: Overrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const problems: string[] = [];
  const config = substituteEnv(structuredClone(raw), '', env, problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  if (!isObject(config))
    throw new ConfigError(file, ['the top level must be a mapping (line:, mqtt:, http:, stations:)']);
  applyOverrides(config, overrides, env);
  if (!validate(config)) {
    throw new ConfigError(file, withoutUnionBranches(validate.errors ?? []).map(describe));
  }
  const seen = new Set<string>();
  config.stations.forEach((station, index) => {
    if (seen.has(station.id))
      problems.push(
        `stations[${index}].id: got ${JSON.stringify(station.id)}; allowed: an id not used by another station`,
      );
    seen.add(station.id);
    problems.push(...checkStationCameras(station, `stations[${index}]`));
    const t = station.thresholds;
    if (t && !(t.passBelow <= t.rejectAbove)) {
      problems.push(
        `stations[${index}].thresholds: got passBelow ${t.passBelow} > rejectAbove ${t.rejectAbove}; allowed: passBelow <= rejectAbove`,
      );
    }
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

function applyOverrides(config: Record<string, unknown>, overrides: Overrides, env: NodeJS.ProcessEnv): void {
  const section = (name: string): Record<string, unknown> => {
    const existing = config[name];
    if (isObject(existing)) return existing;
    const created: Record<string, unknown> = {};
    config[name] = created;
    return created;
  };
  if (overrides.httpPort !== undefined) section('http').port = overrides.httpPort;
  if (overrides.mqttPort !== undefined) section('mqtt').port = overrides.mqttPort;
  if (overrides.mqttUrl !== undefined) section('mqtt').url = overrides.mqttUrl;
  // Secrets come from the environment so they never sit in a file under version control.
  if (env.LOUPE_MQTT_USERNAME) section('mqtt').username = env.LOUPE_MQTT_USERNAME;
  if (env.LOUPE_MQTT_PASSWORD) section('mqtt').password = env.LOUPE_MQTT_PASSWORD;
}

/** Replaces `${NAME}` in every string with the environment variable NAME; an unset one is an error. */
function substituteEnv(value: unknown, path: string, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const found = env[name];
      if (found === undefined)
        problems.push(`${path || '(top)'}: refers to environment variable ${name}, which is not set`);
      return found ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, `${path}[${i}]`, env, problems));
  if (isObject(value)) {
    for (const [key, item] of Object.entries(value))
      value[key] = substituteEnv(item, path ? `${path}.${key}` : key, env, problems);
  }
  return value;
}

/** A failed union reports each branch too; keep only the union's own error, which lists the options. */
function withoutUnionBranches(errors: ErrorObject[]): ErrorObject[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  return errors.filter((e) => !unions.some((prefix) => e.schemaPath.startsWith(prefix)));
}

function describe(error: ErrorObject): string {
  const path = keyPath(error.instancePath);
  const got = `got ${JSON.stringify(error.data) ?? 'nothing'}`;
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${join(path, String(p.missingProperty))}: missing; allowed: ${describeSchema(error.parentSchema, String(p.missingProperty))}`;
    case 'additionalProperties': {
      const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return `${join(path, String(p.additionalProperty))}: unknown key; allowed keys: ${known.join(', ')}`;
    }
    case 'enum':
      return `${path}: ${got}; allowed: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${path}: ${got}; allowed: ${JSON.stringify(p.allowedValue)}`;
    case 'anyOf': {
      const options = ((error.schema as { const?: unknown; type?: string; pattern?: string }[]) ?? []).map((s) =>
        s.const !== undefined
          ? JSON.stringify(s.const)
          : s.type === 'null'
            ? 'null'
            : s.pattern
              ? `a ${s.type} matching /${s.pattern}/`
              : s.type
                ? `a ${s.type}`
                : 'an object',
      );
      return `${path}: ${got}; allowed: ${options.join(' or ')}`;
    }
    case 'type':
      return `${path}: ${got}; allowed: ${String(p.type)}`;
    default:
      return `${path || '(top)'}: ${got}; allowed: ${error.message ?? error.keyword}`;
  }
}

function describeSchema(parent: unknown, key: string): string {
  const property = (parent as { properties?: Record<string, { description?: string; type?: string }> } | undefined)
    ?.properties?.[key];
  return property?.description ?? (property?.type ? `a ${property.type}` : 'a value');
}

/** `/stations/0/review/defaultAction` → `stations[0].review.defaultAction` */
function keyPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

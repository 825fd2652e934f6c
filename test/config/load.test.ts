import { describe, expect, it } from 'vitest';
import { checkConfig, ConfigError, loadConfig } from '../../config/load.ts';
import { runLoupe, writeConfig, repoRoot } from '../support/loupe.ts';
import path from 'node:path';

const minimal = { stations: [{ id: 'cam-1' }] };

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    checkConfig(raw, 'test.yaml', {}, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('fills every default from the schema for a minimal file', () => {
    const config = checkConfig(minimal, 'test.yaml', {}, {});
    expect(config.mqtt).toMatchObject({ host: '127.0.0.1', port: 1883, topicPrefix: 'loupe' });
    expect(config.mqtt.url).toBeUndefined();
    expect(config.stations[0]).toMatchObject({
      model: 'models/default',
      autoReject: true,
      review: { defaultAction: 'reject' },
      queue: { maxDepth: 64 },
    });
  });

  it('loads the shipped demo configuration', async () => {
    const config = await loadConfig(path.join(repoRoot, 'config', 'loupe.yaml'), {}, {});
    expect(config.stations.map((s) => s.id)).toEqual(['station-1']);
    expect(config.stations[0].ingest.synthetic?.ratePerSecond).toBeGreaterThan(0);
  });

  it('names the key, the bad value and the allowed values of an enum', () => {
    expect(problems({ stations: [{ id: 'a', review: { defaultAction: 'pass' } }] })).toEqual([
      'stations[0].review.defaultAction: got "pass"; allowed: "reject" or "hold"',
    ]);
  });

  it('names an unknown key and lists the keys that are allowed', () => {
    const [problem] = problems({ stations: [{ id: 'a', modle: 'x' }] });
    expect(problem).toMatch(/^stations\[0\]\.modle: unknown key; allowed keys: id, model,/);
  });

  it('reports a wrong type, a missing section and a bad broker URL', () => {
    expect(problems({ mqtt: { port: 'x' }, stations: [{ id: 'a' }] })).toEqual([
      'mqtt.port: got "x"; allowed: integer',
    ]);
    expect(problems({})).toEqual(['stations: missing; allowed: one entry per camera']);
    expect(problems({ mqtt: { url: 'http://broker' }, stations: [{ id: 'a' }] })[0]).toMatch(
      /^mqtt\.url: got "http:\/\/broker"; allowed: a string matching/,
    );
  });

  it('refuses duplicate station ids and inverted thresholds', () => {
    expect(problems({ stations: [{ id: 'a' }, { id: 'a' }] })).toEqual([
      'stations[1].id: got "a"; allowed: an id not used by another station',
    ]);
    expect(problems({ stations: [{ id: 'a', thresholds: { passBelow: 3, rejectAbove: 1 } }] })[0]).toMatch(
      /passBelow 3 > rejectAbove 1/,
    );
  });

  it('takes secrets from the environment, and says which variable is missing', () => {
    const config = checkConfig(
      { mqtt: { password: '${BROKER_PW}' }, stations: [{ id: 'a' }] },
      'x',
      {},
      { BROKER_PW: 's3cret' },
    );
    expect(config.mqtt.password).toBe('s3cret');
    expect(checkConfig(minimal, 'x', {}, { LOUPE_MQTT_PASSWORD: 'from-env' }).mqtt.password).toBe('from-env');
    expect(problems({ mqtt: { password: '${NOPE}' }, stations: [{ id: 'a' }] })).toEqual([
      'mqtt.password: refers to environment variable NOPE, which is not set',
    ]);
  });

  it('lets command-line ports override the file', () => {
    const config = checkConfig(minimal, 'x', { httpPort: 9999, mqttPort: 0 }, {});
    expect(config.http.port).toBe(9999);
    expect(config.mqtt.port).toBe(0);
  });

  it('stops `loupe start` with exit code 2 and the precise message', async () => {
    const { file } = await writeConfig({ stations: [{ id: 'a', review: { defaultAction: 'pass' } }] });
    const { code, stderr } = await runLoupe(['start', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toContain('stations[0].review.defaultAction: got "pass"; allowed: "reject" or "hold"');
  });

  it('lists every command in `loupe --help`', async () => {
    const { code, stdout } = await runLoupe(['--help']);
    expect(code).toBe(0);
    for (const command of ['start', 'edge', 'dashboard', 'synth', 'fit', 'eval', 'bench'])
      expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(stdout).toContain('--mqtt-port N');
  });
});

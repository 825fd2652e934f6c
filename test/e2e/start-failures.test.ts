/**
 * A process that cannot start says why in one plain line and exits non-zero, so a supervisor
 * (systemd) restarts it; it never lingers half-started.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLoupe, writeConfig } from '../support/loupe.ts';
import { ADMIN } from '../support/session.ts';
import { freePort } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';

const env = { LOUPE_ADMIN_USER: ADMIN.name, LOUPE_ADMIN_PASSWORD: ADMIN.password, LOUPE_LOG_LEVEL: 'warn' };

async function config(extra: { mqtt: object; model?: string }): Promise<string> {
  const dir = await tempDir('loupe-start-fail-');
  const station = { id: 's1', ...(extra.model ? { model: extra.model } : {}) };
  return (
    await writeConfig(
      { dataDir: path.join(dir, 'data'), http: { port: 0 }, mqtt: extra.mqtt, stations: [station] },
      dir,
    )
  ).file;
}

function expectOnePlainLine(outcome: { code: number | null; stderr: string }, says: string) {
  expect(outcome.code).toBe(1);
  const lines = outcome.stderr.trim().split('\n');
  expect(lines, outcome.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^loupe: could not start: /);
  expect(lines[0]).toContain(says);
}

describe('a process that cannot start', () => {
  it('exits 1 with one plain line: busy MQTT port, unreachable broker, bad model', async () => {
    const holder = net.createServer();
    const busy = await freePort();
    await new Promise<void>((resolve) => holder.listen(busy, '127.0.0.1', resolve));
    const nobody = await freePort();
    const bad = path.join(await tempDir('loupe-bad-model-'), 'model');
    await mkdir(bad);
    await writeFile(path.join(bad, 'manifest.json'), '{}');
    try {
      const [busyPort, unreachable, badModel] = await Promise.all([
        runLoupe(['start', '--config', await config({ mqtt: { port: busy } })], env, 120_000),
        runLoupe(['edge', '--config', await config({ mqtt: { url: `mqtt://127.0.0.1:${nobody}` } })], env, 120_000),
        runLoupe(['start', '--config', await config({ mqtt: { port: 0 }, model: bad })], env, 120_000),
      ]);
      expectOnePlainLine(busyPort, `MQTT port 127.0.0.1:${busy} is already in use`);
      expectOnePlainLine(unreachable, `cannot reach the MQTT broker at mqtt://127.0.0.1:${nobody}`);
      expectOnePlainLine(badModel, `model ${bad}`);
    } finally {
      holder.close();
    }
  }, 150_000);
});

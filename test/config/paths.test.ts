/** A config file means the same thing from any working directory: its relative paths start at its folder. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { tempDir } from '../support/temp.ts';

describe('relative paths in a config file', () => {
  it("resolve from the file's folder; defaults stay relative to the working directory", async () => {
    const dir = await tempDir('loupe-paths-');
    await mkdir(path.join(dir, 'etc'));
    const file = path.join(dir, 'etc', 'loupe.yaml');
    await writeFile(
      file,
      [
        'dataDir: ../var/loupe',
        'mqtt:',
        '  url: mqtts://broker:8883',
        '  tls:',
        '    ca: certs/ca.pem',
        'stations:',
        '  - id: a',
        '    model: ../models/mine',
        '    ingest:',
        '      folder:',
        '        path: inbox',
        '  - id: b',
        '',
      ].join('\n'),
    );
    const config = await loadConfig(path.relative(process.cwd(), file));
    expect(config.dataDir).toBe(path.join(dir, 'var', 'loupe'));
    expect(config.mqtt.tls?.ca).toBe(path.join(dir, 'etc', 'certs', 'ca.pem'));
    expect(config.stations[0].model).toBe(path.join(dir, 'models', 'mine'));
    expect(config.stations[0].ingest.folder?.path).toBe(path.join(dir, 'etc', 'inbox'));
    expect(config.stations[1].model).toBe('models/default');
  });

  it('keep the demo config pointing at the bundled model and .data', async () => {
    const config = await loadConfig('config/loupe.yaml');
    expect(config.stations[0].model).toBe(path.resolve('models/default'));
    expect(config.dataDir).toBe(path.resolve('.data'));
  });
});

/** People's decisions become data: export as a labelled dataset, refit a new model version, swap it in. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Result, VerdictMessage } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { runLoupe, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { repoRoot } from '../support/loupe.ts';
import { person } from '../support/session.ts';
import { tempDir } from '../support/temp.ts';

describe('decisions become data', () => {
  let loupe: LoupeProcess | undefined;
  afterAll(async () => loupe?.stop());

  it('exports decided parts in the MVTec layout, refits with accepted parts and swaps the new version in', async () => {
    const dir = await tempDir('loupe-refit-');
    const { file } = await writeConfig(
      {
        line: 'line-f',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: 0 },
        http: { port: 0 },
        stations: [
          {
            id: 'cam-f',
            model: path.join(repoRoot, 'models', 'default'),
            thresholds: { passBelow: 0, rejectAbove: 1e9 },
          },
        ],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
    const hmi = await Collector.connect(loupe.mqttUrl, ['loupe/line-f/cam-f/verdict']);
    const parts: [string, Buffer, string][] = [];
    for (let i = 0; i < 4; i++) parts.push([`G-${i}`, await goodPart(20 + i, 'png'), 'accept']);
    parts.push(['D-1', await defectivePart(3, 'crack', 'png'), 'reject']);
    for (const [partId, image, decision] of parts) {
      const response = await fetch(new URL(`/api/stations/cam-f/frames?partId=${partId}`, loupe.httpUrl), {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(image),
      });
      expect(((await response.json()) as Result).verdict).toBe('review');
      await hmi.client.publishAsync(
        'loupe/line-f/cam-f/decision',
        JSON.stringify({ partId, decision, user: 'ana', ...(decision === 'reject' ? { category: 'crack' } : {}) }),
        { qos: 1 },
      );
    }
    await hmi.waitFor('five verdicts', () => hmi.json<VerdictMessage>('/verdict').length >= 5);
    await hmi.close();

    const exported = path.join(dir, 'export');
    const exportRun = await runLoupe(['export', '--config', file, '--out', exported]);
    expect(exportRun.code, exportRun.stderr).toBe(0);
    // one accepted part in five (the 2nd, 7th, …) is held out as test/good, so the set can be evaluated
    expect((await readdir(path.join(exported, 'train', 'good'))).sort()).toEqual(['G-0.png', 'G-2.png', 'G-3.png']);
    expect(await readdir(path.join(exported, 'test', 'good'))).toEqual(['G-1.png']);
    expect(await readdir(path.join(exported, 'test', 'crack'))).toEqual(['D-1.png']);

    const refitted = path.join(dir, 'model-v2');
    const refit = await runLoupe(['fit', '--from-decisions', '--config', file, '--out', refitted]);
    expect(refit.code, refit.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(path.join(refitted, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ id: 'default', version: '2', lineage: { parent: 'default@1', acceptedParts: 4 } });

    const qm = await person(loupe.httpUrl, 'qm', 'manager');
    const swap = await qm.post('/api/stations/cam-f/model', { model: refitted });
    expect(await swap.json()).toMatchObject({ model: { id: 'default', version: '2' } });
    const after = await fetch(new URL('/api/stations/cam-f/frames?partId=AFTER-1', loupe.httpUrl), {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(await goodPart(30, 'png')),
    });
    expect(((await after.json()) as Result).model).toEqual({ id: 'default', version: '2' });
  }, 120_000);
});

/**
 * A plant, end to end, with real parts: three `loupe edge` processes (one line each) on an edge
 * box's Mosquitto, bridged to the plant's Mosquitto (docs/plant.md's bridge settings); `loupe plant`
 * writing into a throwaway PostgreSQL cluster; `loupe dashboard` on the plant broker. The plant
 * link goes down mid-stream and comes back; every part each edge logged must be in PostgreSQL
 * exactly once, and decisions taken on the central dashboard must reach the stations that own them.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from '../../contract/payloads.ts';
import { postgresBin, startScratchCluster, type ScratchCluster } from '../../plant/src/scratch-cluster.ts';
import { repoRoot, startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { ADMIN, login, type Client } from '../support/session.ts';
import { inCI, mosquittoPath, startMosquitto, type Mosquitto } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';
import { cuttableLink, type CuttableLink } from '../support/cuttable-link.ts';

const mosquitto = mosquittoPath();
const postgres = postgresBin();
if (!postgres) {
  const message =
    'PostgreSQL not found (/usr/lib/postgresql/*/bin/initdb); install it with: apt-get install postgresql';
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`SKIPPED: ${message}`);
}
const suite = mosquitto && postgres ? describe : describe.skip;

const PREFIX = 'loupe/site-a';
const LINES = ['line-a', 'line-b', 'line-c'];
const STATION = 'cam-1';

/** The edge box's side of the bridge: the shipped file (config/mosquitto/edge-bridge.conf), filled in. */
async function bridge(plantPort: number): Promise<string[]> {
  const text = await readFile(path.join(repoRoot, 'config', 'mosquitto', 'edge-bridge.conf'), 'utf8');
  const filled = text
    .replaceAll('PLANT_BROKER', `127.0.0.1:${plantPort}`)
    .replaceAll('EDGE_BOX', 'edge-box-1')
    .replaceAll('SITE', PREFIX);
  // A short first retry keeps the test quick; the shipped back-off is for a real plant.
  return [
    'max_queued_messages 500000',
    ...filled
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => (l.startsWith('restart_timeout') ? 'restart_timeout 1 2' : l)),
  ];
}

suite('a plant: edge boxes bridged to the plant broker, records in PostgreSQL, one dashboard', () => {
  let cluster: ScratchCluster;
  let plantBroker: Mosquitto;
  let edgeBroker: Mosquitto;
  const edges = new Map<string, LoupeProcess>();
  let plant: LoupeProcess;
  let dashboard: LoupeProcess;
  let db: pg.Pool;
  let link: CuttableLink;

  beforeAll(async () => {
    cluster = await startScratchCluster(postgres as string);
    db = new pg.Pool({ connectionString: cluster.url, max: 1 });
    plantBroker = await startMosquitto(mosquitto as string);
    link = await cuttableLink(plantBroker.port);
    edgeBroker = await startMosquitto(mosquitto as string, await bridge(link.port));
    for (const line of LINES) {
      const { file } = await writeConfig({
        line,
        dataDir: path.join(await tempDir(`loupe-plant-${line}-`), 'data'),
        mqtt: { url: edgeBroker.url, topicPrefix: PREFIX },
        http: { port: 0 },
        stations: [
          {
            id: STATION,
            audit: { share: 0 },
            review: { deadlineSeconds: 600 },
            statusIntervalSeconds: 1,
            queue: { workers: 1 },
          },
        ],
      });
      edges.set(line, await startLoupe('edge', ['--config', file]));
    }
    const plantConfig = await writeConfig({
      dataDir: path.join(await tempDir('loupe-plant-svc-'), 'data'),
      mqtt: { url: plantBroker.url, topicPrefix: PREFIX },
      http: { port: 0 },
      stations: [{ id: 'unused' }],
    });
    const edgeArgs = LINES.flatMap((line) => ['--edge', `${line}=${(edges.get(line) as LoupeProcess).httpUrl}`]);
    plant = await startLoupe(
      'plant',
      ['--config', plantConfig.file, '--database', cluster.url, '--prefix', 'loupe/+', ...edgeArgs],
      { LOUPE_EDGE_USER: ADMIN.name, LOUPE_EDGE_PASSWORD: ADMIN.password },
    );
    const dashboardConfig = await writeConfig({
      dataDir: path.join(await tempDir('loupe-plant-dash-'), 'data'),
      mqtt: { url: plantBroker.url, topicPrefix: PREFIX },
      http: { port: 0 },
      stations: [{ id: 'unused' }],
    });
    dashboard = await startLoupe('dashboard', ['--config', dashboardConfig.file]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...edges.values()].map((e) => e.stop()));
    await plant?.stop();
    await dashboard?.stop();
    await db?.end();
    await edgeBroker?.stop();
    await link?.close();
    await plantBroker?.stop();
    cluster?.stop();
  });

  it('keeps every logged part exactly once in PostgreSQL across a cut plant link, and decisions from the central dashboard reach their stations', async () => {
    const images = [await goodPart(1, 'png'), await goodPart(2, 'png'), await defectivePart(1, 'missing', 'png')];
    const truncated = (await goodPart(3, 'jpeg')).subarray(0, 200); // unreadable: a review for a person
    const post = async (line: string, partId: string, image: Buffer, type: string) => {
      const edge = edges.get(line) as LoupeProcess;
      const response = await fetch(new URL(`/api/stations/${STATION}/frames?partId=${partId}`, edge.httpUrl), {
        method: 'POST',
        headers: { 'content-type': type },
        body: new Uint8Array(image),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Result;
    };

    // Parts flow on all three lines; after a third of them the link to the plant goes down for a
    // while (both brokers stay up, as in a network outage), then comes back.
    const parts = 45;
    let cutAt = 0;
    for (let i = 0; i < parts; i++) {
      if (i === 15) {
        await link.cut();
        cutAt = Date.now();
      }
      if (i === 30) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + 3000 - Date.now())));
        // While cut, nothing of the parts inspected since reached the plant.
        const late = await db.query("SELECT 1 FROM log_parts WHERE part_id ~ '-P(01[5-9]|02[0-9])$'");
        expect(late.rowCount).toBe(0);
        await link.restore();
      }
      for (const line of LINES) {
        const id = `${line}-P${String(i).padStart(3, '0')}`;
        if (i % 9 === 4) await post(line, id, truncated, 'image/jpeg');
        else await post(line, id, images[i % images.length], 'image/png');
      }
    }

    // Each edge's own log is the truth: every part it stored must reach PostgreSQL, once.
    const edgeClients = new Map<string, Client>();
    for (const [line, edge] of edges) edgeClients.set(line, await login(edge.httpUrl));
    const stored = new Map<string, string>();
    for (const [line, client] of edgeClients) {
      const page = (await (await client.get('/api/log?limit=1000')).json()) as {
        items: { line: string; station: string; partId: string; final: { verdict: string } | null }[];
      };
      for (const item of page.items)
        stored.set(`${item.line}/${item.station}/${item.partId}`, item.final?.verdict ?? 'open');
      expect(page.items.length, `${line} stored parts`).toBeGreaterThan(10);
    }
    const rows = async () =>
      (
        await db.query<{ k: string; n: string; verdict: string | null }>(
          "SELECT line || '/' || station || '/' || part_id AS k, count(*) OVER (PARTITION BY line, station, part_id) AS n, final_verdict AS verdict FROM log_parts WHERE has_result",
        )
      ).rows;
    const deadline = Date.now() + 60_000;
    let found = await rows().catch(() => []);
    while (found.length < stored.size && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      found = await rows().catch(() => []);
    }
    expect(new Set(found.map((r) => r.k))).toEqual(new Set(stored.keys()));
    expect(found.every((r) => r.n === '1')).toBe(true);
    expect(found.length).toBe(stored.size);

    // The same filters on the plant's API as on an edge: the rejects of line-b.
    const manager = await login(plant.httpUrl);
    const plantRejects = (await (await manager.get('/api/log?line=line-b&verdict=reject&limit=1000')).json()) as {
      total: number;
    };
    const edgeRejects = (await (
      await (edgeClients.get('line-b') as Client).get('/api/log?verdict=reject&limit=1000')
    ).json()) as { total: number };
    expect(plantRejects.total).toBe(edgeRejects.total);
    expect(plantRejects.total).toBeGreaterThan(0);

    // The central dashboard sees every line's open reviews; a decision there reaches the owning station.
    const technician = await login(dashboard.httpUrl);
    const reviews = await waitFor(async () => {
      const open = (await (await technician.get('/api/reviews')).json()) as {
        line: string;
        station: string;
        partId: string;
      }[];
      return LINES.every((line) => open.some((r) => r.line === line)) ? open : null;
    });
    const decided = LINES.map(
      (line) => reviews.find((r) => r.line === line) as { line: string; station: string; partId: string },
    );
    for (const review of decided) {
      const response = await technician.post(
        `/api/reviews/${review.line}/${review.station}/${review.partId}/decision`,
        { decision: 'reject', category: 'scratch' },
      );
      expect(response.status).toBe(202);
    }
    for (const review of decided) {
      const entry = await waitFor(async () => {
        const found = (await (
          await (edgeClients.get(review.line) as Client).get(
            `/api/log/${review.line}/${review.station}/${review.partId}`,
          )
        ).json()) as { final: { decidedBy: string; user?: string } | null };
        return found.final ? found : null;
      });
      expect(entry.final).toMatchObject({ decidedBy: 'human', user: ADMIN.name });
      // ...and the station's verdict comes back into the plant's records.
      const row = await waitFor(
        async () =>
          (
            await db.query<{ decided_by: string }>(
              "SELECT decided_by FROM log_parts WHERE line = $1 AND part_id = $2 AND decided_by = 'human'",
              [review.line, review.partId],
            )
          ).rows[0] ?? null,
      );
      expect(row.decided_by).toBe('human');
    }

    // Images come from the edge box that holds them; with that box gone, a placeholder says so.
    const withImage = (await (await manager.get('/api/log?line=line-a&verdict=reject&limit=1')).json()) as {
      items: { imageUrl: string | null }[];
    };
    const imageUrl = withImage.items[0].imageUrl as string;
    const image = await manager.get(imageUrl);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toMatch(/^image\/(png|jpeg)/);
    await (edges.get('line-a') as LoupeProcess).stop();
    const offline = await manager.get(imageUrl);
    expect(offline.status).toBe(502);
    expect(offline.headers.get('content-type')).toMatch(/svg/);
    expect(await offline.text()).toContain('offline');
  }, 240_000);

  it('lists every station with its Loupe and model versions, rolls a model out to a set of stations and back', async () => {
    const manager = await login(plant.httpUrl);
    const fleet = async () =>
      (await (await manager.get('/api/fleet')).json()) as {
        line: string;
        station: string;
        edge: string | null;
        software: string | null;
        model: { version: string } | null;
      }[];
    const listed = await waitFor(async () => {
      const all = await fleet();
      return LINES.every((line) => all.some((s) => s.line === line)) ? all : null;
    });
    const { version } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const line of ['line-b', 'line-c'])
      expect(listed.find((s) => s.line === line)).toMatchObject({
        station: STATION,
        edge: (edges.get(line) as LoupeProcess).httpUrl,
        software: version,
        model: { version: '1' },
      });

    // A refit of the default model, version 2, in a folder the edge boxes can read.
    const refit = path.join(await tempDir('loupe-plant-model-'), 'bracket-v2');
    await mkdir(refit);
    await copyFile(path.join(repoRoot, 'models', 'default', 'model.onnx'), path.join(refit, 'model.onnx'));
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'models', 'default', 'manifest.json'), 'utf8')) as {
      version: string;
    };
    await writeFile(path.join(refit, 'manifest.json'), JSON.stringify({ ...manifest, version: '2' }));
    const targets = [
      { line: 'line-b', station: STATION },
      { line: 'line-c', station: STATION },
    ];

    const rollout = (await (await manager.post('/api/fleet/rollout', { stations: targets, model: refit })).json()) as {
      results: { line: string; ok: boolean; model?: { version: string } }[];
    };
    expect(rollout.results.map((r) => [r.line, r.ok, r.model?.version])).toEqual([
      ['line-b', true, '2'],
      ['line-c', true, '2'],
    ]);
    await waitFor(async () => ((await fleet()).filter((s) => s.model?.version === '2').length === 2 ? true : null));

    const back = (await (
      await manager.post('/api/fleet/rollback', { stations: targets, model: path.join(repoRoot, 'models', 'default') })
    ).json()) as { results: { ok: boolean; model?: { version: string } }[] };
    expect(back.results.map((r) => [r.ok, r.model?.version])).toEqual([
      [true, '1'],
      [true, '1'],
    ]);
    const after = await waitFor(async () => {
      const all = await fleet();
      return all.filter((s) => s.line !== 'line-a').every((s) => s.model?.version === '1') ? all : null;
    });
    expect(after.filter((s) => s.line !== 'line-a').map((s) => s.model?.version)).toEqual(['1', '1']);
  }, 120_000);
});

async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

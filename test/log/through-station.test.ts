/**
 * The defect log through the real product: `loupe start` (embedded broker, a station, the
 * dashboard), a part sent to review by the audit, claimed on the dashboard and decided over MQTT
 * as a technician's client would; the manager's API then shows the whole story.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { goodPart } from '../support/parts.ts';
import { freePort } from '../support/system.ts';
import { person } from '../support/session.ts';
import { tempDir } from '../support/temp.ts';

describe('defect log fed by a real station', () => {
  let loupe: LoupeProcess;
  let collector: Collector;
  beforeAll(async () => {
    const dir = await tempDir('loupe-log-e2e-');
    const mqttPort = await freePort();
    const { file } = await writeConfig(
      {
        line: 'line-log',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: mqttPort },
        http: { port: 0 },
        // every good part goes to review as an audit sample: a scored part with an image and a heatmap
        stations: [{ id: 'cam-1', audit: { share: 1 }, review: { deadlineSeconds: 60 } }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file, '--mqtt-port', String(mqttPort)]);
    collector = await Collector.connect(loupe.mqttUrl, ['loupe/line-log/cam-1/#']);
    await collector.stationOnline('loupe/line-log/cam-1');
  });
  afterAll(async () => {
    await collector?.close();
    await loupe?.stop();
  });

  const api = (route: string, init?: RequestInit) => fetch(new URL(route, loupe.httpUrl), init);

  it('shows a review decided over MQTT in /api/log with its timeline: result, claim, decision, verdict', async () => {
    const posted = await api('/api/stations/cam-1/frames?partId=audit-1', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new Uint8Array(await goodPart(7)),
    });
    expect(await posted.json()).toMatchObject({ verdict: 'review', reasons: ['audit'] });

    // The dashboard learns of the review from the broker; claim it there as a technician would.
    const ana = await person(loupe.httpUrl, 'ana', 'technician');
    const manager = await person(loupe.httpUrl, 'quinn', 'manager');
    let claim: Response | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      claim = await ana.post('/api/reviews/line-log/cam-1/audit-1/claim');
      if (claim.status !== 404) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(claim?.status).toBe(200);

    await collector.client.publishAsync(
      'loupe/line-log/cam-1/decision',
      JSON.stringify({
        partId: 'audit-1',
        decision: 'reject',
        category: 'scratch',
        note: 'fine line near the hole',
        user: 'ana',
      }),
      { qos: 1 },
    );
    await collector.waitFor('verdict of audit-1', () =>
      collector.json<{ partId: string }>('/verdict').find((v) => v.partId === 'audit-1'),
    );

    // the log is the managers': a technician is refused
    expect((await ana.get('/api/log')).status).toBe(403);
    const list = (await (await manager.get('/api/log?station=cam-1&user=ana')).json()) as {
      total: number;
      items: { partId: string; url: string; imageUrl: string; heatmapUrl: string }[];
    };
    expect(list.total).toBe(1);
    expect(list.items[0].partId).toBe('audit-1');
    const detail = (await (await manager.get(list.items[0].url)).json()) as {
      timeline: { kind: string; user?: string }[];
      final: object;
      score: number;
      model: { id: string };
    };
    expect(detail.timeline.map((e) => e.kind)).toEqual(['result', 'claim', 'decision', 'verdict']);
    expect(detail.timeline[1].user).toBe('ana');
    expect(detail.final).toMatchObject({ verdict: 'reject', decidedBy: 'human', user: 'ana', category: 'scratch' });
    expect(detail.score).toBeGreaterThan(0);
    expect(detail.model.id).toBeTruthy();

    const image = await manager.get(list.items[0].imageUrl);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    const heatmap = await manager.get(list.items[0].heatmapUrl);
    expect(heatmap.headers.get('content-type')).toBe('image/png');

    const analytics = (await (await manager.get('/api/analytics?station=cam-1')).json()) as {
      totals: { inspected: number; reviews: number; overrides: number };
      pareto: { category: string }[];
    };
    expect(analytics.totals).toMatchObject({ inspected: 1, reviews: 1, overrides: 1 }); // a good part, scored low, rejected: against the model
    expect(analytics.pareto.map((p) => p.category)).toEqual(['scratch']);
  });
});

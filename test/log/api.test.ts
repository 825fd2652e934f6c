import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { logApi } from '../../edge/src/log/api.ts';
import { result } from './fixtures.ts';

describe('defect log HTTP API', () => {
  let app: FastifyInstance;
  let log: DefectLog;
  beforeAll(async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'loupe-log-api-'));
    log = await DefectLog.open(path.join(root, 'log'), { flushMs: 5 });
    const imagesDir = path.join(root, 'images');
    await mkdir(path.join(imagesDir, 'line-1', 'cam-1'), { recursive: true });
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).png().toBuffer();
    await writeFile(path.join(imagesDir, 'line-1', 'cam-1', 'p-1.img'), png);
    log.result(result('p-1', '2026-11-25T07:00:00.000Z'), { image: 'line-1/cam-1/p-1.img', heatmap: 'line-1/cam-1/p-1.map.png' });
    log.result(result('p-2', '2026-11-25T07:05:00.000Z', { verdict: 'reject' }), { image: 'line-1/cam-1/p-2.img' });
    log.verdict({ line: 'line-1', station: 'cam-1', partId: 'p-2', verdict: 'reject', decidedBy: 'model', at: '2026-11-25T07:05:00.000Z' });
    log.expired('line-1', 'cam-1', 'p-2');
    app = Fastify();
    await app.register(logApi, { log, imagesDir, shifts: [{ name: 'day', start: '06:00' }] });
  });
  afterAll(async () => {
    await app.close();
    await log.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });

  it('lists stored parts newest first, with paging and links', async () => {
    const response = await get('/api/log?limit=1');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ total: 2, offset: 0, limit: 1, nextOffset: 1 });
    expect(body.items[0]).toMatchObject({ partId: 'p-2', final: { verdict: 'reject', decidedBy: 'model' }, imageUrl: null, url: '/api/log/line-1/cam-1/p-2' });
    expect(body.items[0].timeline).toBeUndefined();
    const second = (await get('/api/log?limit=1&offset=1')).json();
    expect(second.items[0]).toMatchObject({ partId: 'p-1', imageUrl: '/api/parts/line-1/cam-1/p-1/image', heatmapUrl: '/api/parts/line-1/cam-1/p-1/heatmap' });
    expect(second.nextOffset).toBeNull();
  });

  it('answers 400 naming the parameter for unknown filters, bad values and inverted ranges', async () => {
    const cases: [string, string, string][] = [
      ['/api/log?color=red', 'color', 'unknown_filter'],
      ['/api/log?verdict=maybe', 'verdict', 'invalid_filter'],
      ['/api/log?from=not-a-date', 'from', 'invalid_filter'],
      ['/api/log?from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z', 'from', 'invalid_filter'],
      ['/api/log?limit=1001', 'limit', 'invalid_filter'],
      ['/api/log?station=a&station=b', 'station', 'invalid_filter'],
      ['/api/log.csv?decidedBy=robot', 'decidedBy', 'invalid_filter'],
      ['/api/analytics?to=2026-13-45', 'to', 'invalid_filter'],
      ['/api/analytics?limit=5', 'limit', 'unknown_filter'],
    ];
    for (const [url, param, error] of cases) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(400);
      expect(response.json(), url).toMatchObject({ error, param, message: expect.stringContaining(param) });
    }
  });

  it("gives a part's detail with its timeline, and 404 for a part the log does not hold", async () => {
    const detail = (await get('/api/log/line-1/cam-1/p-2')).json();
    expect(detail.timeline.map((e: { kind: string }) => e.kind)).toEqual(['result', 'verdict', 'expired']);
    expect(detail.image).toEqual({ path: 'line-1/cam-1/p-2.img', expired: true });
    const missing = await get('/api/log/line-1/cam-1/nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toContain('nope');
  });

  it('serves a kept image, and 404 with the reason for a missing heatmap or an expired image', async () => {
    const image = await get('/api/parts/line-1/cam-1/p-1/image');
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/png');
    const heatmap = await get('/api/parts/line-1/cam-1/p-1/heatmap');
    expect(heatmap.statusCode).toBe(404);
    expect(heatmap.json()).toMatchObject({ error: 'not_found' });
    const expired = await get('/api/parts/line-1/cam-1/p-2/image');
    expect(expired.statusCode).toBe(404);
    expect(expired.json()).toMatchObject({ error: 'expired', message: expect.stringContaining('retention') });
    expect((await get('/api/parts/line-1/cam-1/..%2F..%2Fetc/image')).statusCode).toBe(400);
  });

  it('exports the filtered view as CSV', async () => {
    const response = await get('/api/log.csv?verdict=reject');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    const rows = response.body.trim().split('\r\n');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toContain(',p-2,');
  });

  it('answers analytics and an OpenAPI document naming every route and filter', async () => {
    const analytics = (await get('/api/analytics?station=cam-1')).json();
    expect(analytics).toMatchObject({ basis: 'counts', totals: { inspected: 2, reviews: 1, finals: 1, passed: 0, yield: 0 } });
    const doc = (await get('/api/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/analytics', '/api/log', '/api/log.csv', '/api/log/{line}/{station}/{partId}', '/api/parts/{line}/{station}/{partId}/heatmap', '/api/parts/{line}/{station}/{partId}/image']);
    expect(doc.paths['/api/log'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['line', 'station', 'from', 'to', 'verdict', 'decidedBy', 'category', 'reason', 'modelVersion', 'user', 'limit', 'offset']);
    expect(doc.components.schemas.LogEntry.properties.timeline).toBeUndefined();
    expect(doc.components.schemas.LogEntry.properties.final).toBeDefined();
  });

  it('puts every route behind the guard it is given', async () => {
    const guarded = Fastify();
    await guarded.register(logApi, { log, imagesDir: '/nonexistent', guard: async (_request, reply) => reply.code(401).send({ error: 'unauthorised', message: 'a manager session is required' }) });
    for (const url of ['/api/log', '/api/log.csv', '/api/analytics', '/api/openapi.json', '/api/log/line-1/cam-1/p-1', '/api/parts/line-1/cam-1/p-1/image']) {
      expect((await guarded.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    }
    await guarded.close();
  });
});

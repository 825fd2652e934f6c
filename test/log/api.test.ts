import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { logApi } from '../../edge/src/log/api.ts';
import { result } from './fixtures.ts';
import { tempDir } from '../support/temp.ts';

describe('defect log HTTP API', () => {
  let app: FastifyInstance;
  let log: DefectLog;
  beforeAll(async () => {
    const root = await tempDir('loupe-log-api-');
    log = await DefectLog.open(path.join(root, 'log'), { flushMs: 5 });
    log.result(result('p-1', '2026-11-25T07:00:00.000Z'), { image: 'line-1/cam-1/p-1.img', heatmap: 'line-1/cam-1/p-1.map' });
    log.result(result('p-2', '2026-11-25T07:05:00.000Z', { verdict: 'reject' }), { image: 'line-1/cam-1/p-2.img' });
    log.verdict({ line: 'line-1', station: 'cam-1', partId: 'p-2', verdict: 'reject', decidedBy: 'model', at: '2026-11-25T07:05:00.000Z' });
    log.expired('line-1', 'cam-1', 'p-2');
    app = Fastify();
    await app.register(logApi, { log, shifts: [{ name: 'day', start: '06:00' }] });
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

  it('exports the filtered view as CSV', async () => {
    const response = await get('/api/log.csv?verdict=reject');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    const rows = response.body.trim().split('\r\n');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toContain(',p-2,');
  });

  it('lists the values each filter can take, from the log itself', async () => {
    const values = (await get('/api/log/values')).json();
    expect(values.stations).toEqual(['cam-1']);
    expect(values.reasons.length).toBeGreaterThan(0);
    expect(values.modelVersions[0]).toMatch(/@/);
  });

  it('answers analytics and an OpenAPI document naming every route and filter', async () => {
    const analytics = (await get('/api/analytics?station=cam-1')).json();
    expect(analytics).toMatchObject({ basis: 'counts', totals: { inspected: 2, reviews: 1, finals: 1, passed: 0, yield: 0 } });
    const doc = (await get('/api/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/api/analytics', '/api/log', '/api/log.csv', '/api/log/values', '/api/log/{line}/{station}/{partId}', '/api/parts/{line}/{station}/{partId}/heatmap', '/api/parts/{line}/{station}/{partId}/image', '/api/stations/{station}/shadow', '/api/stations/{station}/shadow/promote']);
    expect(doc.paths['/api/log'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['line', 'station', 'from', 'to', 'verdict', 'decidedBy', 'category', 'reason', 'modelVersion', 'user', 'limit', 'offset']);
    expect(doc.components.schemas.LogEntry.properties.timeline).toBeUndefined();
    expect(doc.components.schemas.LogEntry.properties.final).toBeDefined();
  });

  const routes = ['/api/log', '/api/log.csv', '/api/log/values', '/api/analytics', '/api/openapi.json', '/api/log/line-1/cam-1/p-1'];

  it('puts every route behind the guard it is given', async () => {
    const guarded = Fastify();
    await guarded.register(logApi, { log, guard: async (_request, reply) => reply.code(401).send({ error: 'unauthorised', message: 'a manager session is required' }) });
    for (const url of routes) expect((await guarded.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    await guarded.close();
  });

  it('gives every route the route config it is given, for an access check on the server', async () => {
    const server = Fastify();
    // as dashboard/src/auth.ts does: one hook on the root server reads each route's access
    server.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config?.access !== 'manager') return reply.code(500).send({ error: 'open', message: `${request.url} has no access` });
      return reply.code(403).send({ error: 'forbidden', message: 'this needs the manager role' });
    });
    await server.register(logApi, { log, routeConfig: { access: 'manager' } });
    for (const url of routes) expect((await server.inject({ method: 'GET', url })).statusCode, url).toBe(403);
    await server.close();
  });
});

import path from 'node:path';
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import { Type } from '@sinclair/typebox';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { logApi } from '../../edge/src/log/api.ts';
import { reviewApi } from '../../edge/src/review/api.ts';
import { goldenRoutes } from '../../edge/src/review/golden.ts';
import { shadowApi } from '../../edge/src/review/shadow-api.ts';
import { httpIngest } from '../../edge/src/ingest/http.ts';
import { healthRoutes } from '../../edge/src/health/routes.ts';
import { EdgeMetrics } from '../../edge/src/health/metrics.ts';
import { fileEvidence } from '../../edge/src/evidence/source.ts';
import { evidenceRoutes } from '../../shared/http/evidence.ts';
import { httpFoundation } from '../../shared/http/server.ts';
import { Refused } from '../../shared/http/errors.ts';
import { installAuth } from '../../dashboard/src/auth.ts';
import { dashboard } from '../../dashboard/src/server.ts';
import { LineFeed } from '../../dashboard/src/feed.ts';
import { ClaimBook } from '../../dashboard/src/claims.ts';
import { People } from '../../dashboard/src/people.ts';
import { fleetRoutes, type Fleet } from '../../plant/src/fleet.ts';
import type { EdgeBoxes } from '../../plant/src/images.ts';
import type { PlantStore } from '../../plant/src/store.ts';
import { result } from './fixtures.ts';
import { tempDir } from '../support/temp.ts';

/** A server with the shared foundation (error answers, OpenAPI, headers, limits), as `loupe` builds it. */
async function server(): Promise<FastifyInstance> {
  const app = Fastify();
  await httpFoundation(app, { title: 'test', description: 'test' });
  return app;
}

describe('defect log HTTP API', () => {
  let app: FastifyInstance;
  let log: DefectLog;
  beforeAll(async () => {
    const root = await tempDir('loupe-log-api-');
    log = await DefectLog.open(path.join(root, 'log'), { flushMs: 5 });
    log.result(result('p-1', '2026-11-25T07:00:00.000Z'), {
      image: 'line-1/cam-1/p-1.img',
      heatmap: 'line-1/cam-1/p-1.map',
    });
    log.result(result('p-2', '2026-11-25T07:05:00.000Z', { verdict: 'reject' }), { image: 'line-1/cam-1/p-2.img' });
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-2',
      verdict: 'reject',
      decidedBy: 'model',
      at: '2026-11-25T07:05:00.000Z',
    });
    log.expired('line-1', 'cam-1', 'p-2');
    app = await server();
    await app.register(logApi, { log, shifts: [{ name: 'day', start: '06:00' }] });
    await app.register(evidenceRoutes, { source: fileEvidence(path.join(root, 'images')) });
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
    expect(body.items[0]).toMatchObject({
      partId: 'p-2',
      final: { verdict: 'reject', decidedBy: 'model' },
      imageUrl: null,
      url: '/api/log/line-1/cam-1/p-2',
    });
    expect(body.items[0].timeline).toBeUndefined();
    const second = (await get('/api/log?limit=1&offset=1')).json();
    expect(second.items[0]).toMatchObject({
      partId: 'p-1',
      imageUrl: '/api/parts/line-1/cam-1/p-1/image',
      heatmapUrl: '/api/parts/line-1/cam-1/p-1/heatmap',
    });
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
    expect(analytics).toMatchObject({
      basis: 'counts',
      totals: { inspected: 2, reviews: 1, finals: 1, passed: 0, yield: 0 },
    });
    const doc = (await get('/api/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/analytics',
      '/api/log',
      '/api/log.csv',
      '/api/log/values',
      '/api/log/{line}/{station}/{partId}',
      '/api/openapi.json',
      '/api/parts/{line}/{station}/{partId}/heatmap',
      '/api/parts/{line}/{station}/{partId}/image',
    ]);
    expect(doc.paths['/api/log'].get.parameters.map((p: { name: string }) => p.name)).toEqual([
      'line',
      'station',
      'from',
      'to',
      'verdict',
      'decidedBy',
      'category',
      'reason',
      'modelVersion',
      'user',
      'limit',
      'offset',
    ]);
    const list = doc.paths['/api/log'].get.responses['200'].content['application/json'].schema;
    expect(list.properties.items.items.properties.timeline).toBeUndefined();
    expect(list.properties.items.items.properties.final).toBeDefined();
    const detail =
      doc.paths['/api/log/{line}/{station}/{partId}'].get.responses['200'].content['application/json'].schema;
    expect(detail.properties.timeline).toBeDefined();
    expect(doc.paths['/api/log'].get.responses['400'].content['application/json'].schema.required).toEqual([
      'error',
      'message',
    ]);
  });

  const routes = ['/api/log', '/api/log.csv', '/api/log/values', '/api/analytics', '/api/log/line-1/cam-1/p-1'];

  it('puts every route behind the guard it is given', async () => {
    const guarded = await server();
    await guarded.register(logApi, {
      log,
      guard: async (_request, reply) =>
        reply.code(401).send({ error: 'unauthorised', message: 'a manager session is required' }),
    });
    for (const url of routes) expect((await guarded.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    await guarded.close();
  });

  it('gives every route the route config it is given, for an access check on the server', async () => {
    const app = Fastify();
    // as dashboard/src/auth.ts does: one hook on the root server reads each route's access
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config?.access !== 'manager')
        return reply.code(500).send({ error: 'open', message: `${request.url} has no access` });
      return reply.code(403).send({ error: 'forbidden', message: 'this needs the manager role' });
    });
    await httpFoundation(app, { title: 'test', description: 'test', openApiConfig: { access: 'manager' } });
    await app.register(logApi, { log, routeConfig: { access: 'manager' } });
    for (const url of [...routes, '/api/openapi.json'])
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(403);
    await app.close();
  });
});

describe('the HTTP API as a whole', () => {
  it('documents every route of the edge, the dashboard and the plant fleet in the OpenAPI document, each with a response schema', async () => {
    const root = await tempDir('loupe-openapi-');
    const app = Fastify();
    const routes: RouteOptions[] = [];
    app.addHook('onRoute', (route) => void routes.push(route));
    await httpFoundation(app, { title: 'Loupe', description: 'every route' });
    const people = new People(path.join(root, 'people'), 1);
    await installAuth(app, { people, secret: 's'.repeat(32), secureCookies: false, sessionHours: 1 });
    await app.register(healthRoutes, { stations: new Map(), metrics: new EdgeMetrics() });
    const log = await DefectLog.open(path.join(root, 'log'), { flushMs: 5 });
    await app.register(logApi, { log });
    await app.register(reviewApi, { stations: new Map() });
    await app.register(shadowApi, { desks: new Map() });
    await app.register(goldenRoutes, { imagesDir: path.join(root, 'images'), entries: () => [] });
    await app.register(httpIngest, {
      stations: new Map(),
      tokens: new Map(),
      bodyLimitBytes: 1024,
      loopbackOnly: true,
    });
    const feed = new LineFeed({ url: 'mqtt://127.0.0.1:1' }, 'loupe', pino({ level: 'silent' }));
    await app.register(dashboard, {
      feed,
      claims: new ClaimBook(path.join(root, 'claims')),
      evidence: fileEvidence(path.join(root, 'images')),
      people,
    });
    const store = { pool: { query: async () => ({ rows: [] }) } } as unknown as PlantStore;
    await app.register(fleetRoutes, {
      fleet: { statuses: new Map() } as unknown as Fleet,
      boxes: {} as EdgeBoxes,
      store,
    });
    await app.ready();
    const doc = app.swagger() as { paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> };
    const documented = (route: RouteOptions) =>
      doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[String(route.method).toLowerCase()];
    // @fastify/websocket hides its routes from the document (OpenAPI cannot describe a WebSocket): the live feed is in the README.
    const served = routes.filter((r) => r.method !== 'HEAD' && !(r as { websocket?: boolean }).websocket);
    expect(served.length).toBeGreaterThan(40);
    for (const route of served) {
      const operation = documented(route);
      expect(operation, `${route.method} ${route.url} is not in the OpenAPI document`).toBeDefined();
      const success = Object.keys(operation?.responses ?? {}).filter((status) => /^[123]/.test(status));
      expect(success.length, `${route.method} ${route.url} has no response schema for its answer`).toBeGreaterThan(0);
    }
    await app.close();
    await log.close();
  });

  it('answers refusals and rate limits as { error, param, message } and refuses to send an answer that is off its schema', async () => {
    const app = await server();
    app.post(
      '/api/things/:id',
      {
        schema: {
          params: Type.Object({ id: Type.String({ pattern: '^[a-z]+$' }) }),
          body: Type.Object({ size: Type.Integer({ minimum: 1 }) }),
          response: { 200: Type.Object({ size: Type.Integer() }, { additionalProperties: false }) },
        },
      },
      async (request) => {
        const { size } = request.body as { size: number };
        if (size === 13) throw new Refused(409, 'unlucky', 'size 13 is refused here', 'size');
        return size === 7 ? { size, colour: 'red' } : { size };
      },
    );
    app.get(
      '/api/scarce',
      {
        config: { rateLimit: { max: 1, timeWindow: 60_000 } },
        schema: { response: { 200: Type.Object({ ok: Type.Boolean() }) } },
      },
      async () => ({ ok: true }),
    );
    const post = (url: string, body: object) => app.inject({ method: 'POST', url, payload: body });
    expect((await post('/api/things/abc', { size: 0 })).json()).toEqual({
      error: 'invalid_request',
      param: 'size',
      message: expect.stringContaining('size'),
    });
    expect((await post('/api/things/abc', {})).json()).toEqual({
      error: 'invalid_request',
      param: 'size',
      message: 'size: missing',
    });
    expect((await post('/api/things/ABC', { size: 1 })).json()).toMatchObject({
      error: 'invalid_request',
      param: 'id',
    });
    const refused = await post('/api/things/abc', { size: 13 });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ error: 'unlucky', param: 'size', message: 'size 13 is refused here' });
    expect((await app.inject({ method: 'GET', url: '/nowhere' })).json()).toEqual({
      error: 'not_found',
      message: 'no route GET /nowhere',
    });
    expect((await post('/api/things/abc', { size: 2 })).json()).toEqual({ size: 2 });
    expect((await app.inject({ method: 'GET', url: '/api/scarce' })).statusCode).toBe(200);
    const limited = await app.inject({ method: 'GET', url: '/api/scarce' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: 'too_many_requests', message: expect.stringContaining('at most 1') });
    // LOUPE_CHECK_ANSWERS is on in every test (test/support/setup.ts): an answer off its schema is not sent.
    const off = await post('/api/things/abc', { size: 7 });
    expect(off.statusCode).toBe(500);
    expect(off.json()).toMatchObject({ error: 'internal', message: expect.stringContaining('off its schema') });
    await app.close();
  });
});

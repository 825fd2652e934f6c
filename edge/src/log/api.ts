/**
 * The defect log over HTTP, as one Fastify plugin: the filtered list (JSON and CSV), a part's detail
 * with its timeline, the analytics, and an OpenAPI document built from the same TypeBox schemas the
 * handlers use (it also describes the dashboard's image and heatmap routes the entries link to).
 * Access: `routeConfig` is given to every route here (`loupe` passes `{ access: 'manager' }`, read by
 * dashboard/src/auth.ts), and `guard`, a preHandler, runs before each of them when given.
 * Refusals are `{ error, param?, message }`.
 */
import { Readable } from 'node:stream';
import type { FastifyContextConfig, FastifyPluginAsync, FastifyReply, preHandlerHookHandler } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { PART_ID_PATTERN } from '../../../contract/topics.ts';
import type { DefectLog } from './defect-log.ts';
import { EntrySchema, type Entry } from './entry.ts';
import { FilterSchema, PageSchema, parseFilter, type Refusal } from './query.ts';
import { AnalyticsSchema } from './analytics.ts';
import { memorySource, type LogSource } from './source.ts';
import type { Shift } from '../../../config/schema.ts';
import { csvChunks } from './csv.ts';
import { shadowOpenApi } from '../review/shadow-api.ts';

export interface LogApiOptions {
  /** the edge's embedded log; or `source`, any storage behind the LogSource interface (the plant's PostgreSQL) */
  log?: DefectLog;
  source?: LogSource;
  guard?: preHandlerHookHandler;
  routeConfig?: FastifyContextConfig;
  shifts?: Shift[];
}

const Name = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const PartParams = Type.Object({ line: Name, station: Name, partId: Type.String({ pattern: PART_ID_PATTERN }) });
type PartParams = { line: string; station: string; partId: string };
const ErrorSchema = Type.Object({ error: Type.String(), param: Type.Optional(Type.String()), message: Type.String() }, { $id: 'Error' });

const partUrl = (e: Pick<Entry, 'line' | 'station' | 'partId'>, what: string) => `/api/parts/${e.line}/${e.station}/${encodeURIComponent(e.partId)}/${what}`;

/** An entry as the API answers it: with links, and the timeline only in the detail. */
function view(entry: Entry, withTimeline: boolean) {
  const { timeline, ...rest } = entry;
  return {
    ...rest,
    url: `/api/log/${entry.line}/${entry.station}/${encodeURIComponent(entry.partId)}`,
    imageUrl: entry.image && !entry.image.expired ? partUrl(entry, 'image') : null,
    heatmapUrl: entry.heatmap && !entry.heatmap.expired ? partUrl(entry, 'heatmap') : null,
    ...(withTimeline ? { timeline } : {}),
  };
}

const refuse = (reply: FastifyReply, refusal: Refusal) => reply.code(400).send({ error: refusal.code, param: refusal.param, message: refusal.message });

export const logApi: FastifyPluginAsync<LogApiOptions> = async (app, { log, source: given, guard, routeConfig = {}, shifts = [] }) => {
  const source = given ?? (log ? memorySource(log) : null);
  if (!source) throw new Error('logApi: give it a log or a source');
  if (guard) app.addHook('preHandler', guard);
  const config = routeConfig;

  app.get('/api/log', { config }, async (request, reply) => {
    const parsed = parseFilter(request.query as Record<string, unknown>, { paging: true });
    if (!parsed.ok) return refuse(reply, parsed);
    const page = await source.page(parsed.filter, parsed.page);
    return { ...page, items: page.items.map((e) => view(e, false)) };
  });

  app.get('/api/log.csv', { config }, async (request, reply) => {
    const parsed = parseFilter(request.query as Record<string, unknown>);
    if (!parsed.ok) return refuse(reply, parsed);
    const entries = await source.list(parsed.filter);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="loupe-log-${new Date().toISOString().slice(0, 10)}.csv"`)
      .send(Readable.from(csvChunks(entries, `${request.protocol}://${request.host}`)));
  });

  app.get<{ Params: PartParams }>('/api/log/:line/:station/:partId', { config, schema: { params: PartParams } }, async (request, reply) => {
    const { line, station, partId } = request.params;
    const entry = await source.get(line, station, partId);
    if (!entry) return reply.code(404).send({ error: 'unknown_part', message: `the log holds no part ${partId} at ${line}/${station} (plain auto-passes are counted, not stored)` });
    return view(entry, true);
  });

  app.get('/api/analytics', { config }, async (request, reply) => {
    const parsed = parseFilter(request.query as Record<string, unknown>);
    if (!parsed.ok) return refuse(reply, parsed);
    return source.analytics(parsed.filter, shifts);
  });

  // The values the filters can take, as the log holds them: the manager's page offers them as lists.
  app.get('/api/log/values', { config }, async () => source.values());

  const document = openApi({ edge: Boolean(log) }); // the edge also serves the shadow routes; the plant does not
  app.get('/api/openapi.json', { config }, async () => document);
};

/** Plain JSON Schema from a TypeBox schema (its symbol keys dropped, its $id moved to the component name). */
function plain(schema: TSchema): object {
  const { $id: _id, ...rest } = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  return rest;
}

export function openApi(serves: { edge?: boolean } = {}): object {
  const filters = Object.entries(FilterSchema.properties).map(([name, schema]) => ({ name, in: 'query', required: false, description: (schema as TSchema).description, schema: plain(schema as TSchema) }));
  const paging = Object.entries(PageSchema.properties).map(([name, schema]) => ({ name, in: 'query', required: false, description: (schema as TSchema).description, schema: plain(schema as TSchema) }));
  const partParams = Object.entries(PartParams.properties).map(([name, schema]) => ({ name, in: 'path', required: true, schema: plain(schema as TSchema) }));
  const json = (ref: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });
  const refused = { description: 'unknown filter or invalid value; `param` names it', ...json('Error') };
  const missing = { description: 'not in the log, not kept, or deleted by image retention', ...json('Error') };
  const LogView = { allOf: [{ $ref: '#/components/schemas/LogEntry' }, { type: 'object', properties: { url: { type: 'string' }, imageUrl: { type: ['string', 'null'] }, heatmapUrl: { type: ['string', 'null'] } } }] };
  const shadow = serves.edge ? shadowOpenApi(plain) : { paths: {}, schemas: {} };
  const image = (what: string) => ({ get: { summary: `the ${what} of a part (served by the dashboard)`, parameters: partParams, responses: { 200: { description: what, content: { 'image/png': {}, 'image/jpeg': {} } }, 404: missing } } });
  return {
    openapi: '3.1.0',
    info: { title: 'Loupe defect log', version: '1', description: 'Every inspection counted; every part that was not a plain auto-pass stored with its timeline.' },
    paths: {
      '/api/log': {
        get: {
          summary: 'stored parts matching the filters, newest first',
          parameters: [...filters, ...paging],
          responses: {
            200: { description: 'one page', content: { 'application/json': { schema: { type: 'object', properties: { total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' }, nextOffset: { type: ['integer', 'null'] }, items: { type: 'array', items: LogView } } } } } },
            400: refused,
          },
        },
      },
      '/api/log/values': {
        get: {
          summary: 'the values the filters can take, as the log holds them (for drop-down lists)',
          responses: { 200: { description: 'sorted lists', content: { 'application/json': { schema: { type: 'object', properties: Object.fromEntries(['stations', 'categories', 'reasons', 'modelVersions', 'users'].map((k) => [k, { type: 'array', items: { type: 'string' } }])) } } } } },
        },
      },
      '/api/log.csv': { get: { summary: 'the same filtered view as CSV (all matching parts)', parameters: filters, responses: { 200: { description: 'CSV with a header row', content: { 'text/csv': {} } }, 400: refused } } },
      '/api/log/{line}/{station}/{partId}': {
        get: {
          summary: "a part's entry with its timeline",
          parameters: partParams,
          responses: { 200: { description: 'the entry', content: { 'application/json': { schema: { allOf: [LogView, { type: 'object', properties: { timeline: { type: 'array', items: { type: 'object' } } } }] } } } }, 404: missing },
        },
      },
      '/api/analytics': { get: { summary: 'yield, review rate, override rate per hour and shift, defect Pareto', parameters: filters, responses: { 200: { description: 'analytics', ...json('Analytics') }, 400: refused } } },
      '/api/parts/{line}/{station}/{partId}/image': image('image'),
      '/api/parts/{line}/{station}/{partId}/heatmap': image('heatmap'),
      ...shadow.paths,
    },
    components: { schemas: { LogEntry: plain(EntrySchema), Analytics: plain(AnalyticsSchema), Error: plain(ErrorSchema), ...shadow.schemas } },
  };
}

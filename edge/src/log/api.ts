/**
 * The defect log over HTTP, as one Fastify plugin: the filtered list (JSON and CSV), a part's detail
 * with its timeline, the analytics and the values the filters can take. The filters are the route
 * schemas (query.ts), checked strictly: an unknown parameter or a value not allowed is refused
 * (`unknown_filter`, `invalid_filter`, naming the parameter) by the server's one error handler
 * (shared/http/errors.ts), never silently dropped. The OpenAPI document is generated from the same
 * schemas (shared/http/openapi.ts). Access: `routeConfig` is given to every route here (`loupe`
 * passes `{ access: 'manager' }`, read by dashboard/src/auth.ts), and `guard`, a preHandler, runs
 * before each of them when given.
 */
import { Readable } from 'node:stream';
import type {
  FastifyContextConfig,
  FastifyPluginAsync,
  FastifyReply,
  FastifySchemaCompiler,
  preHandlerHookHandler,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { Answer, PartParams, fileAnswer, inline, refusals } from '../../../shared/http/schemas.ts';
import type { DefectLog } from './defect-log.ts';
import { EntrySchema, EventSchema, type Entry } from './entry.ts';
import { FilterSchema, PageSchema, normaliseFilter, type Refusal } from './query.ts';
import { AnalyticsSchema } from './analytics.ts';
import { memorySource, type LogSource } from './source.ts';
import type { Shift } from '../../../config/schema.ts';
import { csvChunks } from './csv.ts';

export interface LogApiOptions {
  /** the edge's embedded log; or `source`, any storage behind the LogSource interface (the plant's PostgreSQL) */
  log?: DefectLog;
  source?: LogSource;
  guard?: preHandlerHookHandler;
  routeConfig?: FastifyContextConfig;
  shifts?: Shift[];
}

const partUrl = (e: Pick<Entry, 'line' | 'station' | 'partId'>, what: string) =>
  `/api/parts/${e.line}/${e.station}/${encodeURIComponent(e.partId)}/${what}`;

const Links = {
  url: Type.String({ description: "the part's detail" }),
  imageUrl: Type.Union([Type.String(), Type.Null()], { description: 'its frame, while kept' }),
  heatmapUrl: Type.Union([Type.String(), Type.Null()], { description: 'its anomaly map, while kept' }),
};
const LogView = Type.Composite([inline(EntrySchema), Type.Object(Links)], { description: 'a stored part, with links' });
const LogDetail = Type.Composite([
  inline(EntrySchema),
  Type.Object(Links),
  Type.Object({ timeline: Type.Array(EventSchema, { description: "the part's events, oldest first" }) }),
]);
const LogPage = Answer({
  total: Type.Integer(),
  offset: Type.Integer(),
  limit: Type.Integer(),
  nextOffset: Type.Union([Type.Integer(), Type.Null()], {
    description: 'the offset of the next page; null on the last',
  }),
  items: Type.Array(LogView),
});
const Values = Answer(
  Object.fromEntries(
    ['stations', 'categories', 'reasons', 'modelVersions', 'users'].map((k) => [k, Type.Array(Type.String())]),
  ) as Record<
    'stations' | 'categories' | 'reasons' | 'modelVersions' | 'users',
    ReturnType<typeof Type.Array<ReturnType<typeof Type.String>>>
  >,
);
const PagedFilter = Type.Composite([FilterSchema, PageSchema], { additionalProperties: false });

/** An entry as the API answers it: with links, and the timeline only in the detail. */
function view(entry: Entry) {
  const { timeline: _timeline, ...rest } = entry;
  return {
    ...rest,
    url: `/api/log/${entry.line}/${entry.station}/${encodeURIComponent(entry.partId)}`,
    imageUrl: entry.image && !entry.image.expired ? partUrl(entry, 'image') : null,
    heatmapUrl: entry.heatmap && !entry.heatmap.expired ? partUrl(entry, 'heatmap') : null,
  };
}

const refuse = (reply: FastifyReply, refusal: Refusal) =>
  reply.code(400).send({ error: refusal.code, param: refusal.param, message: refusal.message });

/**
 * Query strings checked as they are: Fastify's own checker drops unknown parameters (removeAdditional),
 * where a filter the log cannot honour must be refused, not answered with a wider view.
 */
const strictQuery = (): FastifySchemaCompiler<TSchema> => {
  const ajv = new Ajv({
    removeAdditional: false,
    coerceTypes: 'array',
    useDefaults: true,
    strict: false,
    verbose: true,
  });
  return ({ schema }) => ajv.compile(schema);
};

export const logApi: FastifyPluginAsync<LogApiOptions> = async (
  plain,
  { log, source: given, guard, routeConfig = {}, shifts = [] },
) => {
  const source = given ?? (log ? memorySource(log) : null);
  if (!source) throw new Error('logApi: give it a log or a source');
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(strictQuery());
  if (guard) app.addHook('preHandler', guard);
  const config = { ...routeConfig, codes: { unknown: 'unknown_filter', invalid: 'invalid_filter' } };
  const refused = refusals(400, 401, 403);

  app.get(
    '/api/log',
    {
      config,
      schema: {
        summary: 'stored parts matching the filters, newest first',
        querystring: PagedFilter,
        response: { 200: LogPage, ...refused },
      },
    },
    async (request, reply) => {
      const { limit = 100, offset = 0, ...query } = request.query;
      const parsed = normaliseFilter(query);
      if (!parsed.ok) return refuse(reply, parsed);
      const page = await source.page(parsed.filter, { limit, offset });
      return { ...page, items: page.items.map(view) };
    },
  );

  const csv = fileAnswer('CSV with a header row: every matching part', 'text/csv');
  app.get(
    '/api/log.csv',
    {
      config,
      schema: {
        summary: 'the same filtered view as CSV (all matching parts)',
        querystring: FilterSchema,
        response: { 200: csv, ...refused },
      },
    },
    async (request, reply) => {
      const parsed = normaliseFilter(request.query);
      if (!parsed.ok) return refuse(reply, parsed);
      const entries = await source.list(parsed.filter);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="loupe-log-${new Date().toISOString().slice(0, 10)}.csv"`)
        .send(Readable.from(csvChunks(entries, `${request.protocol}://${request.host}`)));
    },
  );

  app.get(
    '/api/log/:line/:station/:partId',
    {
      config,
      schema: {
        summary: "a part's entry with its timeline",
        params: PartParams,
        response: { 200: LogDetail, ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { line, station, partId } = request.params;
      const entry = await source.get(line, station, partId);
      if (!entry)
        return reply.code(404).send({
          error: 'unknown_part',
          message: `the log holds no part ${partId} at ${line}/${station} (plain auto-passes are counted, not stored)`,
        });
      return { ...view(entry), timeline: entry.timeline };
    },
  );

  app.get(
    '/api/analytics',
    {
      config,
      schema: {
        summary: 'yield, review rate, override rate per hour and shift, defect Pareto',
        querystring: FilterSchema,
        response: { 200: inline(AnalyticsSchema), ...refused },
      },
    },
    async (request, reply) => {
      const parsed = normaliseFilter(request.query);
      if (!parsed.ok) return refuse(reply, parsed);
      return source.analytics(parsed.filter, shifts);
    },
  );

  // The values the filters can take, as the log holds them: the manager's page offers them as lists.
  app.get(
    '/api/log/values',
    {
      config,
      schema: {
        summary: 'the values the filters can take, as the log holds them (for drop-down lists)',
        response: { 200: Values, ...refusals(401, 403) },
      },
    },
    async () => source.values(),
  );
};

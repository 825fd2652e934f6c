/**
 * `loupe plant`: the plant's records. Takes every station's log events from the plant broker (a
 * shared subscription, so instances can be added for load or for failover), keeps them in
 * PostgreSQL, and serves the defect log's pages, CSV, analytics and OpenAPI routes over them, with
 * the same filters as on an edge (edge/src/log/api.ts over the PlantStore source). Images are
 * fetched from the edge box that holds them (images.ts).
 */
import path from 'node:path';
import Fastify, { LogController } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import { cookieSecret, ensureFirstAdmin, installAuth } from '../../dashboard/src/auth.ts';
import { People } from '../../dashboard/src/people.ts';
import { asset, assetAnswer } from '../../dashboard/src/assets.ts';
import { httpFoundation } from '../../shared/http/server.ts';
import { Answer, PartParams, fileAnswer } from '../../shared/http/schemas.ts';
import type { BrokerOptions } from '../../shared/mqtt.ts';
import { logApi } from '../../edge/src/log/api.ts';
import { EdgeBoxes, type EdgeBox } from './images.ts';
import { Fleet, fleetRoutes } from './fleet.ts';
import { PlantIntake, type IntakeOptions } from './intake.ts';
import { PlantStore } from './store.ts';

export interface PlantOptions {
  broker: BrokerOptions;
  /** PostgreSQL connection string; unset: libpq's PG* environment variables */
  database?: string;
  prefix: string;
  group?: string;
  /** line id → the edge box holding its images */
  edges: Map<string, EdgeBox>;
  edgeCredentials: { user: string; password: string } | null;
  batchSize?: number;
  committed?: IntakeOptions['committed'];
}

export interface RunningPlant {
  httpUrl: string;
  store: PlantStore;
  intake: PlantIntake;
  stop(): Promise<void>;
}

const Health = Answer({
  ok: Type.Literal(true),
  brokerConnected: Type.Boolean(),
  spoolDepth: Type.Integer({ description: 'log events taken from the broker and not yet in PostgreSQL' }),
  written: Type.Object({}, { additionalProperties: Type.Integer(), description: 'events written so far, by kind' }),
});

export async function runPlant(config: Config, options: PlantOptions, log: Logger): Promise<RunningPlant> {
  const store = await PlantStore.open(options.database);
  const dataDir = path.resolve(config.dataDir, 'plant');
  const intake = new PlantIntake(
    store,
    {
      broker: options.broker,
      prefix: options.prefix,
      group: options.group,
      spoolDir: path.join(dataDir, 'spool'),
      batchSize: options.batchSize,
      committed: options.committed,
    },
    log.child({ component: 'plant-intake' }),
  );
  let stopFleet: () => Promise<void> = async () => undefined;
  const server = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
  });
  try {
    const app = await httpFoundation(server, {
      title: 'Loupe plant',
      description: "the plant's records: every station's defect log, analytics and fleet",
      openApiConfig: { access: 'manager' },
      https: config.dashboard.secureCookies,
    });
    await intake.start();
    const people = new People(path.join(dataDir, 'people'), config.dashboard.sessionHours);
    await ensureFirstAdmin(people, config.dashboard.admin, process.env, log);
    await installAuth(app, {
      people,
      secret: cookieSecret(dataDir),
      secureCookies: config.dashboard.secureCookies,
      sessionHours: config.dashboard.sessionHours,
    });
    app.get(
      '/healthz',
      { config: { access: 'public' }, schema: { summary: "the plant service's intake", response: { 200: Health } } },
      async () => ({
        ok: true as const,
        brokerConnected: intake.connected,
        spoolDepth: intake.spoolDepth,
        written: intake.totals,
      }),
    );
    app.get(
      '/',
      {
        config: { access: 'manager' },
        schema: { summary: 'the defect log page', response: { 302: { description: 'to /log', type: 'null' } } },
      },
      async (_request, reply) => reply.redirect('/log'),
    );
    app.get('/log', { config: { access: 'manager' }, schema: assetAnswer('log.html') }, asset('log.html'));
    app.get('/log.js', { config: { access: 'manager' }, schema: assetAnswer('log.js') }, asset('log.js'));
    app.get('/dom.js', { schema: assetAnswer('dom.js') }, asset('dom.js'));
    const Stations = Type.Array(Answer({ line: Type.String(), station: Type.String() }), {
      description: 'every station the plant holds records of',
    });
    app.get(
      '/api/stations',
      {
        config: { access: 'manager' },
        schema: { summary: 'the stations the plant holds records of', response: { 200: Stations } },
      },
      async () => {
        const found = await store.pool.query<{ line: string; station: string }>(
          'SELECT DISTINCT line, station FROM log_tallies ORDER BY line, station',
        );
        return found.rows.map((r) => ({ line: r.line, station: r.station }));
      },
    );
    await app.register(logApi, { source: store, shifts: config.log.shifts, routeConfig: { access: 'manager' } });
    const images = new EdgeBoxes(options.edges, options.edgeCredentials);
    // The edge box of the part's line holds its images: fetched from there; when it cannot be, a
    // drawn placeholder that says why (images.ts), so the manager's page shows it in place.
    for (const what of ['image', 'heatmap'] as const) {
      const answer = fileAnswer(
        `the part's ${what}, or a placeholder saying why there is none`,
        'image/png',
        'image/jpeg',
        'image/svg+xml',
      );
      const schema = {
        summary: `a part's ${what}, from the edge box of its line`,
        params: PartParams,
        response: { 200: answer, 404: answer, 502: answer },
      };
      app.get(
        `/api/parts/:line/:station/:partId/${what}`,
        { config: { access: 'manager' }, schema },
        async (request, reply) => {
          const { line, station, partId } = request.params;
          const fetched = await images.fetch(line, station, partId, what);
          if (!fetched.ok)
            request.log.warn({ line, station, partId, why: fetched.message }, `${what} not fetched from the edge box`);
          return reply
            .code(fetched.ok ? 200 : fetched.status)
            .type(fetched.type)
            .header('cache-control', fetched.ok ? 'private, max-age=86400' : 'no-store')
            .send(fetched.bytes);
        },
      );
    }
    const fleet = new Fleet(options.broker, options.prefix, log.child({ component: 'fleet' }));
    await fleet.start();
    stopFleet = () => fleet.stop();
    await app.register(fleetRoutes, { fleet, boxes: images, store });
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await server.close().catch(() => undefined);
    await stopFleet().catch(() => undefined);
    await intake.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw error;
  }
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const httpUrl = `http://${config.http.host}:${port}/`;
  log.info({ httpUrl, mqttUrl: options.broker.url, prefix: options.prefix }, 'ready');
  return {
    httpUrl,
    store,
    intake,
    stop: async () => {
      await server.close();
      await stopFleet();
      await intake.stop();
      await store.close();
    },
  };
}

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
import { PART_ID_PATTERN } from '../../contract/topics.ts';
import { cookieSecret, ensureFirstAdmin, installAuth } from '../../dashboard/src/auth.ts';
import { People } from '../../dashboard/src/people.ts';
import { asset } from '../../dashboard/src/assets.ts';
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

const ID = '^[A-Za-z0-9_-]{1,64}$';

export async function runPlant(config: Config, options: PlantOptions, log: Logger): Promise<RunningPlant> {
  const store = await PlantStore.open(options.database);
  const dataDir = path.resolve(config.dataDir, 'plant');
  const intake = new PlantIntake(store, { broker: options.broker, prefix: options.prefix, group: options.group, spoolDir: path.join(dataDir, 'spool'), batchSize: options.batchSize, committed: options.committed }, log.child({ component: 'plant-intake' }));
  let stopFleet: () => Promise<void> = async () => undefined;
  const app = Fastify({ loggerInstance: log.child({ component: 'http' }), logController: new LogController({ disableRequestLogging: true }) });
  try {
    await intake.start();
    const people = new People(path.join(dataDir, 'people'), config.dashboard.sessionHours);
    await ensureFirstAdmin(people, config.dashboard.admin, process.env, log);
    await installAuth(app, { people, secret: cookieSecret(dataDir), secureCookies: config.dashboard.secureCookies, sessionHours: config.dashboard.sessionHours });
    app.get('/healthz', { config: { access: 'public' } }, async () => ({ ok: true, brokerConnected: intake.connected, spoolDepth: intake.spoolDepth, written: intake.totals }));
    app.get('/', { config: { access: 'manager' } }, async (_request, reply) => reply.redirect('/log'));
    app.get('/log', { config: { access: 'manager' } }, asset('log.html'));
    app.get('/log.js', { config: { access: 'manager' } }, asset('log.js'));
    app.get('/dom.js', asset('dom.js'));
    app.get('/api/stations', { config: { access: 'manager' } }, async () => {
      const found = await store.pool.query<{ line: string; station: string }>('SELECT DISTINCT line, station FROM log_tallies ORDER BY line, station');
      return found.rows.map((r) => ({ line: r.line, station: r.station }));
    });
    await app.register(logApi, { source: store, shifts: config.log.shifts, routeConfig: { access: 'manager' } });
    const images = new EdgeBoxes(options.edges, options.edgeCredentials);
    const PartParams = Type.Object({ line: Type.String({ pattern: ID }), station: Type.String({ pattern: ID }), partId: Type.String({ pattern: PART_ID_PATTERN }) });
    for (const what of ['image', 'heatmap'] as const) {
      app.get<{ Params: { line: string; station: string; partId: string } }>(`/api/parts/:line/:station/:partId/${what}`, { config: { access: 'manager' }, schema: { params: PartParams } }, async (request, reply) => {
        const { line, station, partId } = request.params;
        const fetched = await images.fetch(line, station, partId, what);
        if (!fetched.ok) request.log.warn({ line, station, partId, why: fetched.message }, `${what} not fetched from the edge box`);
        return reply
          .code(fetched.ok ? 200 : fetched.status)
          .type(fetched.type)
          .header('cache-control', fetched.ok ? 'private, max-age=86400' : 'no-store')
          .send(fetched.bytes);
      });
    }
    const fleet = new Fleet(options.broker, options.prefix, log.child({ component: 'fleet' }));
    await fleet.start();
    stopFleet = () => fleet.stop();
    await app.register(fleetRoutes, { fleet, boxes: images, store });
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await app.close().catch(() => undefined);
    await stopFleet().catch(() => undefined);
    await intake.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const httpUrl = `http://${config.http.host}:${port}/`;
  log.info({ httpUrl, mqttUrl: options.broker.url, prefix: options.prefix }, 'ready');
  return {
    httpUrl,
    store,
    intake,
    stop: async () => {
      await app.close();
      await stopFleet();
      await intake.stop();
      await store.close();
    },
  };
}

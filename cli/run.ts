/**
 * Runs the parts of Loupe a command asks for, in one process: the embedded broker, the edge
 * stations with their ingest sources, and the dashboard, all on one HTTP server. Shuts down
 * cleanly on SIGINT / SIGTERM (stations say "offline" before they go).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { startEmbeddedBroker, type BrokerAccess, type EmbeddedBroker } from '../broker/embedded.ts';
import { loadUsers } from '../broker/access.ts';
import { StationLink, type BrokerOptions } from '../edge/src/bus/link.ts';
import { Station, type Frame } from '../edge/src/station.ts';
import { FileReviewStore } from '../edge/src/review/store.ts';
import { DriftWatch } from '../edge/src/review/drift.ts';
import { CategoryBook } from '../edge/src/review/suggest.ts';
import { SecondOpinions } from '../edge/src/review/second.ts';
import { ThresholdHistory } from '../edge/src/decide/thresholds.ts';
import { FolderIngest } from '../edge/src/ingest/folder.ts';
import { SyntheticCamera } from '../edge/src/ingest/synthetic.ts';
import { httpIngest } from '../edge/src/ingest/http.ts';
import { FrameBytes } from '../edge/src/ingest/frame-bytes.ts';
import { equipment, startViews } from '../edge/src/cameras/equip.ts';
import { InspectionPool } from '../edge/src/vision/pool.ts';
import { LineFeed } from '../dashboard/src/feed.ts';
import { dashboard } from '../dashboard/src/server.ts';
import { ClaimBook } from '../dashboard/src/claims.ts';
import { People } from '../dashboard/src/people.ts';
import { cookieSecret, ensureFirstAdmin, installAuth } from '../dashboard/src/auth.ts';
import { reviewApi } from '../edge/src/review/api.ts';
import { PartMemory } from '../edge/src/parts/memory.ts';
import { StationStore } from '../edge/src/store/store.ts';
import { StorageFull, StorageHealth } from '../edge/src/storage/health.ts';
import { onDamage } from '../shared/damaged.ts';
import { createLogger } from './log.ts';
import { EdgeMetrics } from '../edge/src/health/metrics.ts';
import { healthRoutes } from '../edge/src/health/routes.ts';
import { DefectLog } from '../edge/src/log/defect-log.ts';
import { partKey } from '../edge/src/log/entry.ts';
import { sweepImages } from '../edge/src/log/retention.ts';
import { logApi } from '../edge/src/log/api.ts';
import { checkKnownGood } from '../edge/src/vision/known-good.ts';
import { startIntegrations } from '../edge/src/integrations/start.ts';
import { PlantFeed } from '../edge/src/log/plant-feed.ts';
import { goldenRoutes } from '../edge/src/review/golden.ts';
import { poolLoader, ShadowDesk } from '../edge/src/vision/shadow.ts';
import { shadowApi } from '../edge/src/review/shadow-api.ts';
import { fileEvidence } from '../edge/src/evidence/source.ts';
import { evidenceRoutes } from '../shared/http/evidence.ts';
import { httpFoundation } from '../shared/http/server.ts';

export interface Parts {
  broker: boolean;
  edge: boolean;
  dashboard: boolean;
}

export interface Running {
  httpUrl: string;
  mqttUrl: string;
  stop(): Promise<void>;
}

export async function run(config: Config, parts: Parts, log: Logger = createLogger()): Promise<Running> {
  const stoppers: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const stopper of stoppers.reverse()) await stopper();
  };
  // Damaged state files found at start are set aside and named here; the station goes on.
  stoppers.push(
    onDamage((damage) => {
      const restore =
        damage.holds === 'open reviews'
          ? ' OPEN REVIEWS IN IT ARE NOT WAITING ANY MORE: see "Damaged state files" in the README to restore them'
          : '';
      log.error(
        { component: 'storage', file: damage.file, keptAt: damage.keptAt, holds: damage.holds },
        `damaged state file (${damage.holds}): ${damage.file}: ${damage.problem}; kept as it was at ${damage.keptAt ?? '(could not be kept)'}.${restore}`,
      );
    }),
  );
  try {
    let broker: EmbeddedBroker | null = null;
    if (parts.broker && !config.mqtt.url) {
      broker = await startEmbeddedBroker(config.mqtt.host, config.mqtt.port, await brokerAccess(config, log));
      stoppers.push(() => broker?.close());
      log.info({ url: broker.url }, 'embedded MQTT broker listening');
    }
    const mqttUrl = config.mqtt.url ?? broker?.url ?? `mqtt://${config.mqtt.host}:${config.mqtt.port}`;
    const brokerOptions: BrokerOptions = {
      url: mqttUrl,
      username: config.mqtt.username,
      password: config.mqtt.password,
      clientId: config.mqtt.clientId,
      ...(await tlsFiles(config)),
    };
    const maxFrameBytes = config.http.bodyLimitBytes; // one frame size limit, whichever way the frame comes

    // Per-request access logs would double every part's log line; the station logs each part itself.
    // forceCloseConnections: a stop must not wait for an upload or a feed that never ends.
    const server = Fastify({
      loggerInstance: log.child({ component: 'http' }),
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: config.http.bodyLimitBytes,
      trustProxy: config.http.trustProxy,
      forceCloseConnections: true,
    });
    // Error answers, the OpenAPI document (for managers), security headers, rate limits: shared/http/.
    const app = await httpFoundation(server, {
      title: 'Loupe',
      description: 'the HTTP API of a Loupe edge box and its dashboard',
      openApiConfig: { access: 'manager' },
      https: config.dashboard.secureCookies,
    });
    stoppers.push(() => app.close());
    const stations = new Map<string, Station>();
    const desks = new Map<string, ShadowDesk>(); // candidate models in shadow (edge/src/vision/shadow.ts)
    const metrics = new EdgeMetrics();
    const frameBytes = new FrameBytes(config.memory.framesInFlightBytes);
    // Every route needs a session unless it says otherwise (dashboard/src/auth.ts); the edge's own
    // routes (calibration, thresholds, model swap) are guarded the same way.
    const dashboardDir = path.resolve(config.dataDir, 'dashboard');
    const people = new People(dashboardDir, config.dashboard.sessionHours);
    await installAuth(app, {
      people,
      secret: cookieSecret(dashboardDir),
      secureCookies: config.dashboard.secureCookies,
      sessionHours: config.dashboard.sessionHours,
    });
    // Healthy means able to inspect and record; a full disk or a failed fsync is not (503), while the station stays up and answers fail-safe.
    await app.register(healthRoutes, { stations, metrics });

    let defectLog: DefectLog | null = null;
    if (parts.edge) {
      // Opened before the stations and closed after them (stoppers run in reverse): their last verdicts are written.
      const opened = (defectLog = await DefectLog.open(path.resolve(config.dataDir, 'log'), {
        logger: log.child({ component: 'defect-log' }),
      }));
      stoppers.push(() => opened.close());
      const imagesDir = path.resolve(config.dataDir, 'images');
      const links = new Map<string, StationLink>();
      // Every log event and minute tally goes to the plant through its station's outbox (docs/plant.md).
      const plantFeed = new PlantFeed(opened, (_line, station, message) => {
        try {
          links.get(station)?.publishLog(message);
        } catch (error) {
          // A full disk: this event does not reach the plant (the station says its disk is full and answers
          // frames fail-safe until space is back); the part's own answer is recorded, or refused, on its own path.
          if (!(error instanceof StorageFull)) throw error;
          log.warn({ station, kind: message.event.kind }, 'disk full: a log event for the plant was not kept');
        }
      });
      opened.listener = plantFeed;
      for (const stationConfig of config.stations) {
        const stationLog = log.child({ station: stationConfig.id });
        const views = stationConfig.cameras ? await startViews(stationConfig, stationLog) : null; // several views: one camera and model each
        const model =
          views ?? (await InspectionPool.start(path.resolve(stationConfig.model), stationConfig.queue.workers));
        stoppers.push(() => model.close());
        await checkKnownGood(path.resolve(stationConfig.model), model); // a model that no longer scores its references as recorded stops the start
        const address = { prefix: config.mqtt.topicPrefix, line: config.line, station: stationConfig.id };
        const clientId = brokerOptions.clientId ? `${brokerOptions.clientId}-${stationConfig.id}` : undefined;
        // On the embedded broker each station is its own identity, allowed to speak only for itself.
        const credentials = broker ? await broker.internalUser(stationConfig.id, 'station', [stationConfig.id]) : {};
        const storage = new StorageHealth(path.resolve(config.dataDir), 1000, (level, detail) =>
          stationLog[level]({ component: 'storage' }, detail),
        );
        stoppers.push(() => storage.close());
        // One store per station (edge/src/store/): the outbox's older files are migrated into it too.
        const stateDir = path.resolve(config.dataDir, 'reviews', config.line, stationConfig.id);
        const outboxDir = path.resolve(config.dataDir, 'outbox', config.line, stationConfig.id);
        const store = StationStore.at(stateDir, { storage, legacyDirs: [outboxDir] });
        stoppers.push(() => store.close());
        const link = new StationLink(
          { ...brokerOptions, ...credentials, clientId, maxFrameBytes },
          address,
          outboxDir,
          stationLog,
          storage,
          store,
        );
        const reviews = new FileReviewStore(stateDir, store);
        stoppers.push(() => reviews.close());
        const parts = new PartMemory(store, stationConfig.answers);
        const equipped = equipment(stationConfig, stationLog, metrics, views); // camera, quality gate (edge/src/cameras/)
        const { folder, synthetic } = stationConfig.ingest;
        // The synthetic camera sends its parts to the station and answers its triggers: built first, started last.
        let submitTo: ((frame: Frame) => Promise<unknown>) | null = null;
        const syntheticCamera = synthetic
          ? new SyntheticCamera(
              stationConfig.id,
              synthetic,
              (frame) => submitTo?.(frame) ?? Promise.resolve(),
              stationLog,
            )
          : null;
        const second = new SecondOpinions(stateDir, stationConfig.review.secondOpinionShare);
        second.told = (fact) => opened.secondOpinion(config.line, stationConfig.id, fact); // into the part's timeline
        // A candidate model in shadow (edge/src/vision/shadow.ts), offered each scored frame; single-view stations only.
        const shadow = views
          ? null
          : new ShadowDesk({
              dir: stateDir,
              liveDir: path.resolve(stationConfig.model),
              host: () => station,
              closings: () => reviews.closings(30),
              load: poolLoader(stationConfig.queue.workers),
              log: stationLog.child({ component: 'shadow' }),
            });
        const station: Station = new Station({
          shadow,
          config: stationConfig,
          line: config.line,
          model,
          link,
          imageDir: path.resolve(config.dataDir, 'images', config.line, stationConfig.id),
          store,
          reviews,
          thresholds: new ThresholdHistory(stateDir),
          parts,
          storage,
          drift: new DriftWatch(stateDir),
          categories: new CategoryBook(stateDir),
          second,
          log: stationLog,
          camera: syntheticCamera ?? equipped.camera,
          metrics,
          frameBytes,
          qualityGate: equipped.qualityGate,
          statusExtras: equipped.statusExtras,
          defectLog: opened,
        });
        links.set(stationConfig.id, link);
        await station.start();
        stoppers.push(() => station.stop());
        if (shadow) {
          await shadow.resume();
          stoppers.push(() => shadow.close());
          desks.set(station.id, shadow);
        }
        // A broker never reached at this URL: exit and say so (a wrong setting; systemd restarts). One
        // reached before is an outage: the station starts and inspects, the outbox keeps what is owed.
        if (!link.reachedBefore) await link.firstConnection(10_000);
        equipped.start(station);
        stoppers.push(() => equipped.stop());
        stations.set(station.id, station);
        const submit = station.submit.bind(station);
        submitTo = submit;
        if (folder) {
          const ingest = new FolderIngest(path.resolve(folder.path), folder.pollMs, submit, stationLog);
          await ingest.start();
          stoppers.push(() => ingest.stop());
        }
        if (syntheticCamera) {
          syntheticCamera.start();
          stoppers.push(() => syntheticCamera.stop());
        }
      }
      plantFeed.start();
      stoppers.push(() => plantFeed.stop());
      stoppers.push(keepImagesWithin(config, imagesDir, opened, stations, log));
      // On the embedded broker the Sparkplug B node is its own identity, allowed its namespace only.
      const sparkplugCredentials =
        broker && config.sparkplug && !config.sparkplug.url
          ? await broker.internalUser('sparkplug', 'observer', [], ['spBv1.0/'])
          : {};
      const integrations = await startIntegrations(
        config,
        [...stations.values()],
        { ...brokerOptions, ...sparkplugCredentials },
        log,
      );
      stoppers.push(() => integrations.stop());
      // The quality managers' view: every route of the log needs the manager role (dashboard/src/auth.ts).
      await app.register(logApi, { log: opened, shifts: config.log.shifts, routeConfig: { access: 'manager' } });
      await app.register(reviewApi, { stations });
      await app.register(goldenRoutes, { imagesDir, entries: () => opened.all() }); // the reference beside a part under review
      await app.register(shadowApi, { desks });
      // Without the dashboard here, the box still serves its evidence: the plant fetches it (docs/plant.md).
      if (!parts.dashboard) await app.register(evidenceRoutes, { source: fileEvidence(imagesDir) });
      await app.register(httpIngest, {
        stations,
        tokens: new Map(config.stations.map((s) => [s.id, s.ingest.httpToken])),
        bodyLimitBytes: config.http.bodyLimitBytes,
        loopbackOnly: isLoopback(config.http.host),
        frameBytes,
      });
    }

    if (parts.dashboard) {
      const credentials = broker ? await broker.internalUser('dashboard', 'dashboard', ['*']) : {};
      const feed = new LineFeed(
        {
          ...brokerOptions,
          ...credentials,
          clientId: brokerOptions.clientId ? `${brokerOptions.clientId}-dashboard` : undefined,
        },
        config.mqtt.topicPrefix,
        log.child({ component: 'dashboard' }),
      );
      const claims = new ClaimBook(dashboardDir, config.dashboard.claimSeconds);
      feed.claims = claims; // shared with the other dashboards on the broker
      await feed.start();
      stoppers.push(() => feed.stop());
      const claimed = defectLog ? defectLog.claimed.bind(defectLog) : undefined;
      await app.register(dashboard, {
        feed,
        claims,
        evidence: fileEvidence(path.resolve(config.dataDir, 'images')),
        people,
        claimed,
        feedBufferBytes: config.dashboard.feedBufferBytes,
        screen: { undoSeconds: config.dashboard.undoSeconds, guardMs: config.dashboard.guardMs },
      });
    }

    await app.listen({ host: config.http.host, port: config.http.port });
    // Only once everything started: a start that fails leaves no admin behind whose password nobody saw.
    await ensureFirstAdmin(people, config.dashboard.admin, process.env, log);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const httpUrl = `http://${config.http.host}:${port}/`;
    const memory = process.memoryUsage();
    log.info(
      {
        httpUrl,
        mqttUrl,
        httpPort: port,
        mqttPort: broker?.port ?? null,
        rssMb: Math.round(memory.rss / 2 ** 20),
        heapMb: Math.round(memory.heapUsed / 2 ** 20),
        externalMb: Math.round(memory.external / 2 ** 20),
      },
      'ready',
    );
    return { httpUrl, mqttUrl, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** Image retention every 15 minutes (and soon after start); answers its stopper. */
function keepImagesWithin(
  config: Config,
  imagesDir: string,
  defectLog: DefectLog,
  stations: Map<string, Station>,
  log: Logger,
): () => void {
  let sweeping = false;
  const sweep = () => {
    if (sweeping) return;
    sweeping = true;
    const openParts = () =>
      [...stations.values()].flatMap((station) =>
        station.openPartIds().map((partId) => partKey(config.line, station.id, partId)),
      );
    sweepImages(imagesDir, defectLog, {
      now: Date.now(),
      maxAgeMs: config.log.retentionDays * 86_400_000,
      quotaBytes: config.log.imageQuotaMb * 2 ** 20,
      openParts,
    })
      .then(
        (swept) =>
          swept.parts > 0 &&
          log.info({ component: 'defect-log', ...swept }, 'image retention: images of old parts deleted'),
      )
      .catch((error: unknown) =>
        log.error(
          { component: 'defect-log', err: (error as Error).message },
          'image retention failed; retried at the next sweep',
        ),
      )
      .finally(() => (sweeping = false));
  };
  const first = setTimeout(sweep, 10_000);
  const every = setInterval(sweep, 15 * 60_000);
  first.unref();
  every.unref();
  return () => {
    clearTimeout(first);
    clearInterval(every);
  };
}

async function tlsFiles(config: Config): Promise<Partial<BrokerOptions>> {
  const tls = config.mqtt.tls;
  if (!tls) return {};
  const read = async (key: 'ca' | 'cert' | 'key') => {
    const file = tls[key];
    if (!file) return undefined;
    try {
      return await readFile(path.resolve(file));
    } catch (error) {
      throw new Error(`mqtt.tls.${key}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  return {
    ca: await read('ca'),
    cert: await read('cert'),
    key: await read('key'),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

/**
 * Who may use the embedded broker: the configured users; anonymous clients only when the config
 * says so, or by default when nobody is configured and the broker listens on loopback (the demo).
 */
async function brokerAccess(config: Config, log: Logger): Promise<BrokerAccess> {
  const users = await loadUsers(config.mqtt.users);
  const anonymous = config.mqtt.anonymous ?? (users.size === 0 && isLoopback(config.mqtt.host));
  if (!anonymous && users.size === 0) {
    throw new Error(
      `mqtt.users: the embedded broker listens on ${config.mqtt.host}, beyond loopback, and nobody is configured: add mqtt.users (docs/security.md), or set mqtt.anonymous: true to let anyone on the network in`,
    );
  }
  if (anonymous && !isLoopback(config.mqtt.host))
    log.warn(
      { host: config.mqtt.host },
      'embedded broker lets anonymous clients in beyond loopback (mqtt.anonymous: true): anyone who reaches it can decide parts',
    );
  const brokerLog = log.child({ component: 'broker' });
  return { prefix: config.mqtt.topicPrefix, users, anonymous, refused: (what) => brokerLog.warn(what) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The longest a stop may take after SIGINT / SIGTERM. */
const SHUTDOWN_MS = 8000;

/** Runs until SIGINT / SIGTERM, then stops everything; used by the start, edge and dashboard commands. */
export async function runUntilSignal(config: Config, parts: Parts): Promise<number> {
  const log = createLogger();
  let running: Running;
  try {
    running = await run(config, parts, log);
  } catch (error) {
    // One plain line, and a non-zero exit (cli/main.ts ends the process): a supervisor restarts it.
    console.error(`loupe: could not start: ${(error as Error).message}`);
    return 1;
  }
  if (parts.dashboard)
    console.error(`\n  Loupe dashboard: ${running.httpUrl}\n  MQTT broker:     ${running.mqttUrl}\n`);
  await new Promise<void>((resolve) => {
    const onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  log.info('shutting down');
  // Bounded in every state (a broker gone, a feed client that does not read, a hung upload): what
  // matters is on disk already (outbox, journals), so past the bound the process exits anyway.
  // A second signal exits at once.
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      log.error({ afterMs: SHUTDOWN_MS }, 'shutdown did not finish in time; exiting anyway');
      resolve(1);
    }, SHUTDOWN_MS);
    const again = () => {
      log.warn('second signal; exiting now');
      resolve(1);
    };
    process.once('SIGINT', again);
    process.once('SIGTERM', again);
  });
  const code = await Promise.race([running.stop().then(() => 0), forced]);
  clearTimeout(timer);
  if (code !== 0) process.exit(code);
  return 0;
}

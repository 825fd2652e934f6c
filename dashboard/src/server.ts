/**
 * The dashboard as a Fastify plugin: the technician's page, the live WebSocket feed, the review
 * API and each part's evidence (image and anomaly map). It is registered on the same server as
 * frame ingest by `loupe start`, or alone by `loupe dashboard`. Who may call what is decided by
 * auth.ts from each route's `access` (default: any logged-in person).
 */
import type { FastifyPluginAsync } from 'fastify';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { RegionSchema, ResultSchema, ReviewSchema, StatusSchema, VerdictSchema } from '../../contract/payloads.ts';
import { regionRefusal } from '../../contract/region.ts';
import { DecidedBySchema, FinalVerdictSchema, HumanAnswerSchema } from '../../contract/vocabulary.ts';
import { Answer, PartParams, RefusalSchema, inline, refusals } from '../../shared/http/schemas.ts';
import { evidenceRoutes, type EvidenceSource } from '../../shared/http/evidence.ts';
import { DecisionNotSent, type LineFeed } from './feed.ts';
import type { ClaimBook, Claim } from './claims.ts';
import { asset, assetAnswer, wordsAsset } from './assets.ts';
import { allows, type People, type Session } from './people.ts';

/** How long a technician may correct their own decision once it was sent (a manager may at any time). */
export const CORRECTION_MINUTES = 10;

export interface DashboardOptions {
  feed: LineFeed;
  claims: ClaimBook;
  /** the stations' evidence (images and anomaly maps), from whoever holds them (edge/src/evidence/source.ts) */
  evidence: EvidenceSource;
  people: People;
  /** the technician screen's pace: how long a decision stays undoable before it is sent, and the guard after a part is shown */
  screen?: { undoSeconds: number; guardMs: number };
  /** told of every claim taken (the defect log records it in the part's timeline) */
  claimed?: (line: string, station: string, partId: string, user: string) => void;
  /** a live-feed client that stops reading is dropped once this many bytes wait for it */
  feedBufferBytes?: number;
}

type PartParams = Static<typeof PartParams>;

const ClaimHeld = Answer({
  holder: Type.String({ description: 'who holds the claim' }),
  expiresAt: Type.String({ format: 'date-time' }),
});
const Claimed = Type.Intersect(
  [RefusalSchema, Type.Object({ holder: Type.String(), expiresAt: Type.String({ format: 'date-time' }) })],
  { description: 'claimed: someone else is deciding this part' },
);
const DecisionBody = Type.Object(
  {
    decision: HumanAnswerSchema,
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    note: Type.Optional(Type.String({ maxLength: 1000 })),
    region: Type.Optional(RegionSchema), // marking where: the defect's region, with reject only (the station refuses it on accept)
  },
  { additionalProperties: false },
);
const Similar = Type.Array(
  Type.Pick(VerdictSchema, ['partId', 'verdict', 'score', 'user', 'category', 'at'], { additionalProperties: false }),
  { description: 'decided parts of this station with the nearest scores' },
);
const Screen = Answer({
  undoSeconds: Type.Number({ description: 'how long a decision stays undoable on the screen before it is sent' }),
  guardMs: Type.Number({ description: 'keys are ignored this long after a part is shown' }),
  claimSeconds: Type.Number({ description: 'how long a claim lasts without renewal' }),
  correctionMinutes: Type.Number({ description: 'how long a technician may correct their own decision' }),
});

export const dashboard: FastifyPluginAsync<DashboardOptions> = async (
  plain,
  {
    feed,
    claims,
    evidence,
    people,
    claimed: onClaim,
    feedBufferBytes = 2 * 1024 * 1024,
    screen = { undoSeconds: 4, guardMs: 700 },
  },
) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // On stop, feed clients are cut, not asked to close: a client that does not read would hold
    // the closing handshake (and the process) for half a minute. Screens reconnect on their own.
    preClose: async () => {
      for (const socket of app.websocketServer.clients) socket.terminate();
      await new Promise<void>((resolve) => app.websocketServer.close(() => resolve()));
    },
  });

  app.get('/', { schema: assetAnswer('index.html') }, asset('index.html'));
  // The technician screen's modules (dashboard/web/state.js lists what each holds).
  for (const file of [
    'app.js',
    'state.js',
    'session.js',
    'feed.js',
    'queue.js',
    'part.js',
    'viewer.js',
    'desk.js',
    'keys.js',
    'drift.js',
    'dom.js',
    'manager-api.js',
    'icons.js',
    'mark.js',
  ])
    app.get(`/${file}`, { schema: assetAnswer(file) }, asset(file));
  app.get('/words.js', { schema: assetAnswer('words.js') }, wordsAsset());
  app.get('/people', { config: { access: 'admin' }, schema: assetAnswer('people.html') }, asset('people.html'));
  app.get('/people.js', { config: { access: 'admin' }, schema: assetAnswer('people.js') }, asset('people.js'));
  app.get('/log', { config: { access: 'manager' }, schema: assetAnswer('log.html') }, asset('log.html'));
  app.get('/log.js', { config: { access: 'manager' }, schema: assetAnswer('log.js') }, asset('log.js'));
  app.get('/station', { config: { access: 'manager' }, schema: assetAnswer('station.html') }, asset('station.html'));
  app.get('/station.js', { config: { access: 'manager' }, schema: assetAnswer('station.js') }, asset('station.js'));
  app.get('/models', { config: { access: 'manager' }, schema: assetAnswer('models.html') }, asset('models.html'));
  app.get('/models.js', { config: { access: 'manager' }, schema: assetAnswer('models.js') }, asset('models.js'));

  const signedIn = refusals(401, 403);
  app.get(
    '/api/screen',
    { schema: { summary: "the technician screen's pace", response: { 200: Screen, ...signedIn } } },
    async () => ({ ...screen, claimSeconds: claims.ttlSeconds, correctionMinutes: CORRECTION_MINUTES }),
  );
  app.get(
    '/api/stations',
    {
      schema: {
        summary: "every station's last status",
        response: { 200: Type.Array(inline(StatusSchema)), ...signedIn },
      },
    },
    async () => [...feed.statuses.values()],
  );
  app.get(
    '/api/reviews',
    {
      schema: {
        summary: 'the open reviews, nearest deadline first',
        response: { 200: Type.Array(inline(ReviewSchema)), ...signedIn },
      },
    },
    async () => [...feed.reviews.values()].sort((a, b) => a.deadline.localeCompare(b.deadline)),
  );
  app.get(
    '/api/results',
    {
      schema: {
        summary: 'the latest results, newest first',
        response: { 200: Type.Array(inline(ResultSchema)), ...signedIn },
      },
    },
    async () => feed.recent,
  );

  const keyOf = ({ line, station, partId }: PartParams) => `${line}/${station}/${partId}`;
  const describeClaim = (claim: Claim) => ({ holder: claim.user, expiresAt: new Date(claim.expiresAt).toISOString() });
  const claimed = (holder: Claim) => ({
    error: 'claimed',
    message: `${holder.user} is deciding this part (claim held until ${new Date(holder.expiresAt).toLocaleTimeString('en-GB')})`,
    ...describeClaim(holder),
  });
  const unknownPart = ({ line, station, partId }: PartParams) => ({
    error: 'unknown_part',
    message: `part ${partId} at ${line}/${station} has no open review: it was already decided, timed out, or never existed`,
  });
  const announce = (params: PartParams, claim: Claim) => {
    feed.emit({
      type: 'claim',
      line: params.line,
      station: params.station,
      partId: params.partId,
      ...describeClaim(claim),
    });
    feed.shareClaim(params.line, params.station, params.partId, claim);
  };

  app.get(
    '/api/reviews/:line/:station/:partId/similar',
    {
      schema: {
        summary: 'decided parts with scores near this review',
        params: PartParams,
        response: { 200: Similar, ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const review = feed.reviews.get(keyOf(request.params));
      if (!review) return reply.code(404).send(unknownPart(request.params));
      return feed
        .similar(review.station, review.score)
        .map(({ partId, verdict, score, user, category, at }) => ({ partId, verdict, score, user, category, at }));
    },
  );

  app.post(
    '/api/reviews/:line/:station/:partId/claim',
    {
      schema: {
        summary: 'claim (or renew a claim on) a part before deciding it',
        params: PartParams,
        response: { 200: ClaimHeld, 409: Claimed, ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const key = keyOf(request.params);
      if (!feed.reviews.has(key)) return reply.code(404).send(unknownPart(request.params));
      const renewal = claims.holder(key)?.user === (request.person as Session).name;
      const outcome = claims.claim(key, (request.person as Session).name);
      if (!outcome.ok) return reply.code(409).send(claimed(outcome.holder));
      announce(request.params, outcome.claim);
      // A claim renewed while the part stays on screen is not a new event in the part's timeline.
      if (!renewal) onClaim?.(request.params.line, request.params.station, request.params.partId, outcome.claim.user);
      return describeClaim(outcome.claim);
    },
  );

  // Leaving a part (opening another, closing the page) lets it go at once rather than when the claim runs out.
  app.delete(
    '/api/reviews/:line/:station/:partId/claim',
    {
      schema: {
        summary: 'let go of a part one holds',
        params: PartParams,
        response: { 200: Answer({ released: Type.Literal(true) }), ...signedIn },
      },
    },
    async (request) => {
      const key = keyOf(request.params);
      const held = claims.holder(key);
      if (held && held.user === (request.person as Session).name) {
        claims.release(key);
        feed.shareClaim(request.params.line, request.params.station, request.params.partId, null); // and on the other dashboards
        feed.emit({ type: 'claim-released', ...request.params });
      }
      return { released: true as const };
    },
  );

  const brokerDown = {
    error: 'broker_unreachable',
    message:
      'the dashboard has lost the MQTT broker: your decision was NOT sent; try again when the stations show online',
  };

  // A correction of a part already decided: by the person who decided it within CORRECTION_MINUTES, or
  // by a manager at any time while this dashboard remembers the part. The station publishes a
  // verdict that says which verdict it replaces, and the defect log keeps both.
  const Corrects = Answer(
    { verdict: FinalVerdictSchema, decidedBy: DecidedBySchema, user: Type.Optional(Type.String()) },
    'the verdict the correction replaces',
  );
  const correctionSchema = {
    summary: 'correct a decision already sent',
    params: PartParams,
    body: DecisionBody,
    response: {
      202: Answer({ accepted: Type.Literal(true), corrects: Corrects }),
      ...refusals(400, 401, 403, 404, 503),
    },
  };
  app.post('/api/parts/:line/:station/:partId/correction', { schema: correctionSchema }, async (request, reply) => {
    const { line, station, partId } = request.params;
    const person = request.person as Session;
    const known = feed.closed.get(keyOf(request.params));
    if (!known)
      return reply.code(404).send({
        error: 'unknown_part',
        message: `part ${partId} at ${line}/${station} has no recent decision this dashboard knows of`,
      });
    const { verdict, review } = known;
    const own =
      verdict.decidedBy === 'human' &&
      verdict.user === person.name &&
      Date.now() - Date.parse(verdict.at) < CORRECTION_MINUTES * 60_000;
    if (!own && !allows(person.role, 'manager')) {
      const why =
        verdict.decidedBy === 'human' && verdict.user === person.name
          ? `more than ${CORRECTION_MINUTES} minutes have passed`
          : `it was decided by ${verdict.user ?? verdict.decidedBy}`;
      return reply
        .code(403)
        .send({ error: 'forbidden', message: `${person.name} cannot correct ${partId}: ${why}; ask a manager` });
    }
    if (request.body.category !== undefined && review && !review.categories.includes(request.body.category)) {
      return reply.code(400).send({
        error: 'invalid_category',
        message: `category "${request.body.category}" is not one of ${review.categories.join(', ')}`,
      });
    }
    if (!feed.connected) return reply.code(503).send(brokerDown);
    const decision = {
      schema: 'loupe/decision@1' as const,
      partId,
      ...request.body,
      user: person.name,
      correction: true,
    };
    claims.recordDecision({ line, station, ...decision });
    await feed.publishDecision(line, station, decision);
    request.log.warn(
      { partId, station, user: person.name, decision: request.body.decision, was: verdict.verdict },
      'correction sent',
    );
    return reply.code(202).send({
      accepted: true,
      corrects: { verdict: verdict.verdict, decidedBy: verdict.decidedBy, user: verdict.user },
    });
  });

  app.post(
    '/api/reviews/:line/:station/:partId/decision',
    {
      schema: {
        summary: "a person's decision on a review",
        params: PartParams,
        body: DecisionBody,
        response: { 202: Answer({ accepted: Type.Literal(true) }), 409: Claimed, ...refusals(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => {
      const { line, station, partId } = request.params;
      const key = keyOf(request.params);
      const user = (request.person as Session).name;
      const review = feed.reviews.get(key);
      if (!review) return reply.code(404).send(unknownPart(request.params));
      const badRegion = regionRefusal({ partId, ...request.body }); // marking where
      if (badRegion) return reply.code(400).send({ error: 'invalid_region', message: badRegion });
      if (request.body.category !== undefined && !review.categories.includes(request.body.category)) {
        return reply.code(400).send({
          error: 'invalid_category',
          message: `category "${request.body.category}" is not one of ${review.categories.join(', ')}`,
        });
      }
      // Deciding claims the part; someone else's live claim refuses the decision.
      const outcome = claims.claim(key, user);
      if (!outcome.ok) return reply.code(409).send(claimed(outcome.holder));
      if (!feed.connected) return reply.code(503).send(brokerDown);
      const decision = { schema: 'loupe/decision@1' as const, partId, ...request.body, user };
      try {
        await feed.publishDecision(line, station, decision);
      } catch (error) {
        if (!(error instanceof DecisionNotSent)) throw error;
        request.log.warn({ partId, station, user, err: error.message }, 'decision not sent');
        return reply.code(503).send({ error: 'broker_unreachable', message: error.message });
      }
      claims.recordDecision({ line, station, ...decision });
      claims.release(key);
      feed.shareClaim(line, station, partId, null);
      request.log.info(
        { partId, station, user, decision: request.body.decision, category: request.body.category },
        'decision sent',
      );
      return reply.code(202).send({ accepted: true });
    },
  );

  await app.register(evidenceRoutes, { source: evidence });

  const liveFeed = {
    summary: 'the live feed (WebSocket): a snapshot, then every change',
    response: { 101: { description: 'switching to the WebSocket feed', type: 'null' }, ...signedIn },
  };
  app.get('/ws', { websocket: true, schema: liveFeed }, (socket, request) => {
    const person = request.person as Session;
    // A new client first gets the whole picture, then every change; the session is checked again on
    // every event, so an expired or ended session stops the feed.
    const live = claims
      .live()
      .filter((c) => feed.reviews.has(c.key))
      .map((c) => ({ key: c.key, ...describeClaim(c) }));
    socket.send(
      JSON.stringify({
        type: 'snapshot',
        statuses: [...feed.statuses.values()],
        reviews: [...feed.reviews.values()],
        results: feed.recent.slice(0, 50),
        claims: live,
        you: person.name,
        broker: feed.connected,
      }),
    );
    const unsubscribe = feed.onEvent((event) => {
      if (typeof people.session(person.id) !== 'object') return socket.close(4401, 'session ended');
      if (event.type === 'decision-refused' && event.user !== person.name) return;
      // A client that stops reading would make the server hold every event for it: past the
      // bound it is dropped; its screen reconnects and starts again from a fresh snapshot.
      if (socket.bufferedAmount > feedBufferBytes) {
        request.log.warn(
          { user: person.name, buffered: socket.bufferedAmount },
          'live-feed client not reading; dropped',
        );
        unsubscribe();
        return socket.terminate();
      }
      socket.send(JSON.stringify(event));
    });
    socket.on('close', unsubscribe);
  });
};

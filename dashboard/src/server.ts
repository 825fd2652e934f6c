/**
 * The dashboard as a Fastify plugin: the page, the live WebSocket feed, and the review API.
 * It is registered on the same server as frame ingest by `loupe start`, or alone by
 * `loupe dashboard`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import websocket from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import { PART_ID_PATTERN } from '../../contract/topics.ts';
import type { LineFeed } from './feed.ts';
import type { ClaimBook, Claim } from './claims.ts';

const webDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'web');
const assets: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css' };
const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** `claimed` is told of every claim taken (the defect log records it in the part's timeline). */
export const dashboard: FastifyPluginAsync<{ feed: LineFeed; claims: ClaimBook; claimed?: (line: string, station: string, partId: string, user: string) => void }> = async (app, { feed, claims, claimed: onClaim }) => {
  await app.register(websocket);

  for (const [route, file] of Object.entries(assets)) {
    app.get(route, async (_request, reply) => reply.type(types[path.extname(file)]).send(await readFile(path.join(webDir, file))));
  }

  app.get('/api/stations', async () => [...feed.statuses.values()]);
  app.get('/api/reviews', async () => [...feed.reviews.values()].sort((a, b) => a.deadline.localeCompare(b.deadline)));
  app.get('/api/results', async () => feed.recent);

  const ReviewParams = Type.Object({ line: Type.String(), station: Type.String(), partId: Type.String({ pattern: PART_ID_PATTERN }) });
  const claimed = (holder: Claim) => ({ error: 'claimed', message: `${holder.user} holds this part until ${new Date(holder.expiresAt).toISOString()}`, holder: holder.user, expiresAt: new Date(holder.expiresAt).toISOString() });

  app.post<{ Params: { line: string; station: string; partId: string }; Body: { user: string } }>(
    '/api/reviews/:line/:station/:partId/claim',
    { schema: { params: ReviewParams, body: Type.Object({ user: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }) } },
    async (request, reply) => {
      const { line, station, partId } = request.params;
      const key = `${line}/${station}/${partId}`;
      if (!feed.reviews.has(key)) return reply.code(404).send({ error: 'unknown_part', message: `no open review for part ${partId} at ${line}/${station}` });
      const outcome = claims.claim(key, request.body.user);
      if (!outcome.ok) return reply.code(409).send(claimed(outcome.holder));
      onClaim?.(line, station, partId, outcome.claim.user);
      return { holder: outcome.claim.user, expiresAt: new Date(outcome.claim.expiresAt).toISOString() };
    },
  );

  app.post<{ Params: { line: string; station: string; partId: string }; Body: { decision: 'accept' | 'reject'; category?: string; note?: string; user: string } }>(
    '/api/reviews/:line/:station/:partId/decision',
    {
      schema: {
        params: ReviewParams,
        body: Type.Object(
          {
            decision: Type.Union([Type.Literal('accept'), Type.Literal('reject')]),
            category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            note: Type.Optional(Type.String({ maxLength: 1000 })),
            user: Type.String({ minLength: 1, maxLength: 64 }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const { line, station, partId } = request.params;
      const key = `${line}/${station}/${partId}`;
      const review = feed.reviews.get(key);
      if (!review) {
        return reply.code(404).send({ error: 'unknown_part', message: `no open review for part ${partId} at ${line}/${station} (unknown, or already decided)` });
      }
      if (request.body.category !== undefined && !review.categories.includes(request.body.category)) {
        return reply.code(400).send({ error: 'invalid_category', message: `category "${request.body.category}" is not one of ${review.categories.join(', ')}` });
      }
      // Deciding claims the part; someone else's live claim refuses the decision.
      const outcome = claims.claim(key, request.body.user);
      if (!outcome.ok) return reply.code(409).send(claimed(outcome.holder));
      const decision = { schema: 'loupe/decision@1' as const, partId, ...request.body };
      claims.recordDecision({ line, station, ...decision });
      await feed.publishDecision(line, station, decision);
      claims.release(key);
      return reply.code(202).send({ accepted: true });
    },
  );

  app.get('/ws', { websocket: true }, (socket) => {
    // A new client first gets the whole picture, then every change.
    socket.send(JSON.stringify({ type: 'snapshot', statuses: [...feed.statuses.values()], reviews: [...feed.reviews.values()], results: feed.recent.slice(0, 50) }));
    const unsubscribe = feed.onEvent((event) => socket.send(JSON.stringify(event)));
    socket.on('close', unsubscribe);
  });
};

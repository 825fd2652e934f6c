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

const webDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'web');
const assets: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css' };
const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export const dashboard: FastifyPluginAsync<{ feed: LineFeed }> = async (app, { feed }) => {
  await app.register(websocket);

  for (const [route, file] of Object.entries(assets)) {
    app.get(route, async (_request, reply) => reply.type(types[path.extname(file)]).send(await readFile(path.join(webDir, file))));
  }

  app.get('/api/stations', async () => [...feed.statuses.values()]);
  app.get('/api/reviews', async () => [...feed.reviews.values()].sort((a, b) => a.deadline.localeCompare(b.deadline)));
  app.get('/api/results', async () => feed.recent);

  app.post<{ Params: { line: string; station: string; partId: string }; Body: { decision: 'accept' | 'reject'; category?: string; note?: string; user: string } }>(
    '/api/reviews/:line/:station/:partId/decision',
    {
      schema: {
        params: Type.Object({ line: Type.String(), station: Type.String(), partId: Type.String({ pattern: PART_ID_PATTERN }) }),
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
      if (!feed.reviews.has(`${line}/${station}/${partId}`)) {
        return reply.code(404).send({ error: 'unknown_part', message: `no open review for part ${partId} at ${line}/${station}` });
      }
      await feed.publishDecision(line, station, { schema: 'loupe/decision@1', partId, ...request.body });
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

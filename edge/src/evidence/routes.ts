/**
 * A part's evidence over HTTP: its frame as it came and its anomaly map drawn as a PNG. Served by
 * the process that holds the images: the dashboard when it runs beside the stations, and `loupe
 * edge` on its own (the plant fetches them from there, plant/src/images.ts). Access: `routeConfig`
 * (default: any logged-in person, dashboard/src/auth.ts).
 */
import path from 'node:path';
import type { FastifyContextConfig, FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { PART_ID_PATTERN } from '../../../contract/topics.ts';
import { viewableImage, viewableMap } from './files.ts';

const ID = '^[A-Za-z0-9_-]{1,64}$';
const PartParams = Type.Object({ line: Type.String({ pattern: ID }), station: Type.String({ pattern: ID }), partId: Type.String({ pattern: PART_ID_PATTERN }) });
type PartParams = { line: string; station: string; partId: string };

export const evidenceRoutes: FastifyPluginAsync<{ imagesDir: string; routeConfig?: FastifyContextConfig }> = async (app, { imagesDir, routeConfig = {} }) => {
  app.get<{ Params: PartParams }>('/api/parts/:line/:station/:partId/image', { config: routeConfig, schema: { params: PartParams } }, async (request, reply) => {
    const { line, station, partId } = request.params;
    const image = await viewableImage(path.join(imagesDir, line, station), partId);
    if (!image.ok) return reply.code(image.code === 'not_found' ? 404 : 422).send({ error: image.code, message: image.message });
    return reply.type(image.type).header('cache-control', 'private, max-age=86400').send(image.bytes);
  });

  app.get<{ Params: PartParams }>('/api/parts/:line/:station/:partId/heatmap', { config: routeConfig, schema: { params: PartParams } }, async (request, reply) => {
    const { line, station, partId } = request.params;
    const map = await viewableMap(path.join(imagesDir, line, station), partId);
    if (!map.ok) return reply.code(map.code === 'not_found' ? 404 : 422).send({ error: map.code, message: map.message });
    return reply.type('image/png').header('cache-control', 'private, max-age=86400').send(map.png);
  });
};

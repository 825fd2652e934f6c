/**
 * HTTP ingest: `POST /api/stations/:station/frames?partId=ID` with a JPEG or PNG body answers the
 * part's result as JSON. Bodies over the configured limit get 413 before any decoding happens.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { PART_ID_PATTERN } from '../../../contract/topics.ts';
import type { Station } from '../station.ts';

export interface HttpIngestOptions {
  stations: Map<string, Station>;
  tokens: Map<string, string | undefined>;
  bodyLimitBytes: number;
  /** Token may be omitted only when the server listens on loopback. */
  loopbackOnly: boolean;
}

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'application/octet-stream', 'image/bmp', 'image/tiff', 'image/webp'];

export const httpIngest: FastifyPluginAsync<HttpIngestOptions> = async (app: FastifyInstance, options) => {
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes }, (_request, body, done) => done(null, body));

  app.post<{ Params: { station: string }; Querystring: { partId: string } }>(
    '/api/stations/:station/frames',
    {
      // A camera or PLC has no session: frame ingest takes the station's token instead (below).
      config: { access: 'public' },
      bodyLimit: options.bodyLimitBytes,
      schema: {
        params: Type.Object({ station: Type.String() }),
        querystring: Type.Object({ partId: Type.String({ pattern: PART_ID_PATTERN }) }),
      },
    },
    async (request, reply) => {
      const receivedAt = performance.now();
      const station = options.stations.get(request.params.station);
      if (!station) return reply.code(404).send({ error: 'unknown_station', message: `no station "${request.params.station}" here; stations: ${[...options.stations.keys()].join(', ')}` });
      const token = options.tokens.get(station.id);
      if (token !== undefined || !options.loopbackOnly) {
        if (request.headers.authorization !== `Bearer ${token ?? ''}` || token === undefined) {
          return reply.code(401).send({ error: 'unauthorized', message: 'frame ingest needs the station token: Authorization: Bearer <ingest.httpToken>' });
        }
      }
      const image = request.body;
      if (!Buffer.isBuffer(image) || image.length === 0) {
        return reply.code(400).send({ error: 'empty_body', message: 'send the image bytes as the body, with Content-Type image/jpeg or image/png' });
      }
      const result = await station.submit({ partId: request.query.partId, image, source: 'http', receivedAt });
      return reply.send(result);
    },
  );
};

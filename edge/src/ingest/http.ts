/**
 * HTTP ingest: `POST /api/stations/:station/frames?partId=ID` with a JPEG or PNG body answers the
 * part's result as JSON. Bodies over the configured limit get 413 before any decoding happens.
 */
import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { PART_ID_PATTERN } from '../../../contract/topics.ts';
import type { Station } from '../station.ts';
import { PartIdInUse } from '../parts/memory.ts';

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

  // Fastify's own refusals say "Request body is too large" or "Unsupported Media Type": a camera
  // integrator needs the limit, the types and the part in the answer.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const partId = (request.query as { partId?: unknown } | undefined)?.partId;
    const named = typeof partId === 'string' && partId.length > 0 ? { partId } : {};
    const part = typeof partId === 'string' && partId.length > 0 ? `part ${partId}: ` : '';
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const length = request.headers['content-length'];
      return reply.code(413).send({ error: 'frame_too_large', message: `${part}a frame may be at most ${options.bodyLimitBytes} bytes (http.bodyLimitBytes)${length ? `; this one is ${length} bytes` : ''}`, limitBytes: options.bodyLimitBytes, ...named });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: 'unsupported_media_type', message: `${part}Content-Type ${request.headers['content-type'] ?? '(none)'} is not an image; send one of ${IMAGE_TYPES.join(', ')}`, expected: IMAGE_TYPES, ...named });
    }
    if (error.validation) {
      const where = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'request');
      const message = error.validation.some((v) => v.keyword === 'pattern' || v.keyword === 'required')
        ? `partId ${typeof partId === 'string' ? `"${partId}" ` : ''}is missing or not allowed: send ?partId= with letters, digits and . _ : -, at most 128 characters, starting with a letter or digit`
        : `${where}: ${error.message}`;
      return reply.code(400).send({ error: 'invalid_request', message, ...named });
    }
    request.log.error({ err: error.message, ...named }, 'frame ingest failed');
    return reply.code(error.statusCode && error.statusCode < 500 ? error.statusCode : 500).send({ error: 'ingest_failed', message: `${part}${error.message}`, ...named });
  });

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
      const partId = request.query.partId;
      if (!Buffer.isBuffer(image)) {
        return reply.code(415).send({ error: 'unsupported_media_type', message: `part ${partId}: Content-Type ${request.headers['content-type'] ?? '(none)'} is not an image; send one of ${IMAGE_TYPES.join(', ')}`, expected: IMAGE_TYPES, partId });
      }
      if (image.length === 0) {
        return reply.code(400).send({ error: 'empty_body', message: `part ${partId}: the body is empty; send the image bytes as the body, with Content-Type image/jpeg or image/png`, partId });
      }
      try {
        return reply.send(await station.submit({ partId: request.query.partId, image, source: 'http', receivedAt }));
      } catch (error) {
        if (error instanceof PartIdInUse) return reply.code(409).send({ error: error.code, message: error.message, partId: error.partId });
        throw error;
      }
    },
  );
};

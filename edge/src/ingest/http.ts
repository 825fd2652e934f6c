/**
 * HTTP ingest: `POST /api/stations/:station/frames?partId=ID` with a JPEG or PNG body answers the
 * part's result as JSON. Before any of the body is read, the station and its token are checked and
 * the body's bytes are reserved under the process's cap on frames in memory (frame-bytes.ts): over
 * it, 503 at once. Bodies over the configured limit get 413 before any decoding happens.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ResultSchema } from '../../../contract/payloads.ts';
import { PartIdSchema } from '../../../contract/vocabulary.ts';
import type { Refusal } from '../../../shared/http/errors.ts';
import { RefusalSchema, StationParams, inline, refusals } from '../../../shared/http/schemas.ts';
import type { Station } from '../station.ts';
import { PartIdInUse } from '../parts/memory.ts';
import type { FrameBytes } from './frame-bytes.ts';

export interface HttpIngestOptions {
  stations: Map<string, Station>;
  tokens: Map<string, string | undefined>;
  bodyLimitBytes: number;
  /** Token may be omitted only when the server listens on loopback. */
  loopbackOnly: boolean;
  /** the cap on bytes of frames in memory, shared with every other ingest path */
  frameBytes?: FrameBytes;
}

type Upload = FastifyRequest<{ Params: { station: string }; Querystring: { partId: string } }>;

/** A refused frame names its part, and says the limit or the media types it needs. */
const FrameRefusal = Type.Composite([
  RefusalSchema,
  Type.Object({
    partId: Type.Optional(Type.String()),
    limitBytes: Type.Optional(Type.Integer()),
    expected: Type.Optional(Type.Array(Type.String())),
  }),
]);

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'application/octet-stream', 'image/bmp', 'image/tiff', 'image/webp'];

export const httpIngest: FastifyPluginAsync<HttpIngestOptions> = async (plain, options) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  app.addContentTypeParser(
    IMAGE_TYPES,
    { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes },
    (_request, body, done) => done(null, body),
  );

  // Fastify's own refusals say "Request body is too large" or "Unsupported Media Type": a camera
  // integrator needs the limit, the types and the part in the answer. The server's one error
  // handler (shared/http/errors.ts) asks this route for its words first.
  const explain = (error: FastifyError, request: FastifyRequest): Refusal => {
    const partId = (request.query as { partId?: unknown } | undefined)?.partId;
    const named = typeof partId === 'string' && partId.length > 0 ? { partId } : {};
    const part = typeof partId === 'string' && partId.length > 0 ? `part ${partId}: ` : '';
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const length = request.headers['content-length'];
      return {
        status: 413,
        body: {
          error: 'frame_too_large',
          message: `${part}a frame may be at most ${options.bodyLimitBytes} bytes (http.bodyLimitBytes)${length ? `; this one is ${length} bytes` : ''}`,
          limitBytes: options.bodyLimitBytes,
          ...named,
        },
      };
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return {
        status: 415,
        body: {
          error: 'unsupported_media_type',
          message: `${part}Content-Type ${request.headers['content-type'] ?? '(none)'} is not an image; send one of ${IMAGE_TYPES.join(', ')}`,
          expected: IMAGE_TYPES,
          ...named,
        },
      };
    }
    if (error.validation) {
      const where = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'request');
      const message = error.validation.some((v) => v.keyword === 'pattern' || v.keyword === 'required')
        ? `partId ${typeof partId === 'string' ? `"${partId}" ` : ''}is missing or not allowed: send ?partId= with letters, digits and . _ : -, at most 128 characters, starting with a letter or digit`
        : `${where}: ${error.message}`;
      return { status: 400, body: { error: 'invalid_request', param: 'partId', message, ...named } };
    }
    request.log.error({ err: error.message, ...named }, 'frame ingest failed');
    return {
      status: error.statusCode && error.statusCode < 500 ? error.statusCode : 500,
      body: { error: 'ingest_failed', message: `${part}${error.message}`, ...named },
    };
  };

  /** bytes each upload holds under the cap, until its frame is handed to the station or it ends */
  const reserved = new WeakMap<FastifyRequest, number>();
  const release = (request: FastifyRequest) => {
    const bytes = reserved.get(request);
    if (bytes === undefined) return;
    reserved.delete(request);
    options.frameBytes?.give(bytes);
  };

  /** Station, token and memory, checked before the body is read. */
  const admit = async (request: FastifyRequest, reply: FastifyReply) => {
    const { params } = request as Upload;
    const station = options.stations.get(params.station);
    if (!station)
      return reply.code(404).send({
        error: 'unknown_station',
        message: `no station "${params.station}" here; stations: ${[...options.stations.keys()].join(', ')}`,
      });
    const token = options.tokens.get(station.id);
    if (token !== undefined || !options.loopbackOnly) {
      if (request.headers.authorization !== `Bearer ${token ?? ''}` || token === undefined) {
        return reply.code(401).send({
          error: 'unauthorized',
          message: 'frame ingest needs the station token: Authorization: Bearer <ingest.httpToken>',
        });
      }
    }
    if (!options.frameBytes) return;
    // Without a declared length (chunked), the body may grow to the limit: reserve that.
    const declared = Number(request.headers['content-length']);
    const bytes =
      Number.isFinite(declared) && declared >= 0 ? Math.min(declared, options.bodyLimitBytes) : options.bodyLimitBytes;
    if (!options.frameBytes.take(bytes)) {
      const partId = (request.query as { partId?: unknown } | undefined)?.partId;
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({
          error: 'busy',
          message: `${typeof partId === 'string' ? `part ${partId}: ` : ''}frames in memory are at their cap (${options.frameBytes.capacity} bytes, memory.framesInFlightBytes); nothing was inspected, send the frame again shortly`,
          ...(typeof partId === 'string' ? { partId } : {}),
        });
    }
    reserved.set(request, bytes);
  };

  app.post(
    '/api/stations/:station/frames',
    {
      // A camera or PLC has no session: frame ingest takes the station's token instead (admit).
      config: { access: 'public', explain },
      bodyLimit: options.bodyLimitBytes,
      schema: {
        summary: "inspect a frame (JPEG or PNG body): answers the part's result",
        params: StationParams,
        querystring: Type.Object({ partId: PartIdSchema }),
        response: {
          200: inline(ResultSchema),
          400: FrameRefusal,
          409: FrameRefusal,
          413: FrameRefusal,
          415: FrameRefusal,
          500: FrameRefusal,
          503: FrameRefusal,
          ...refusals(401, 404),
        },
      },
      onRequest: admit,
      onResponse: async (request) => release(request),
      onRequestAbort: async (request) => release(request),
      onError: async (request) => release(request),
    },
    async (request, reply) => {
      const receivedAt = performance.now();
      const station = options.stations.get(request.params.station) as Station; // admit checked it
      const image = request.body as unknown;
      // From here the station counts the frame's bytes itself, for as long as it holds them.
      release(request);
      const partId = request.query.partId;
      if (!Buffer.isBuffer(image)) {
        return reply.code(415).send({
          error: 'unsupported_media_type',
          message: `part ${partId}: Content-Type ${request.headers['content-type'] ?? '(none)'} is not an image; send one of ${IMAGE_TYPES.join(', ')}`,
          expected: IMAGE_TYPES,
          partId,
        });
      }
      if (image.length === 0) {
        return reply.code(400).send({
          error: 'empty_body',
          message: `part ${partId}: the body is empty; send the image bytes as the body, with Content-Type image/jpeg or image/png`,
          partId,
        });
      }
      try {
        return reply.send(await station.submit({ partId: request.query.partId, image, source: 'http', receivedAt }));
      } catch (error) {
        if (error instanceof PartIdInUse)
          return reply.code(409).send({ error: error.code, message: error.message, partId: error.partId });
        throw error;
      }
    },
  );
};

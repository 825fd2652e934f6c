/**
 * A part's evidence over HTTP: its frame as it came and its anomaly map drawn as a PNG. The routes
 * do not know where images live: whoever holds them gives a source (the edge's files,
 * edge/src/evidence/source.ts; the plant fetches them from the edge boxes). Served by the dashboard
 * when it runs beside the stations, and by `loupe edge` on its own. Access: `routeConfig`
 * (default: any logged-in person, dashboard/src/auth.ts).
 */
import type { FastifyContextConfig, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { PartParams, fileAnswer, refusals } from './schemas.ts';

/** An image ready to send, or why there is none (`status` 404 when it was never kept or has expired). */
export type Evidence =
  { ok: true; type: string; bytes: Buffer } | { ok: false; status: number; error: string; message: string };

export interface EvidenceSource {
  image(line: string, station: string, partId: string): Promise<Evidence>;
  heatmap(line: string, station: string, partId: string): Promise<Evidence>;
}

export const evidenceRoutes: FastifyPluginAsync<{
  source: EvidenceSource;
  routeConfig?: FastifyContextConfig;
}> = async (plain, { source, routeConfig = {} }) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  for (const what of ['image', 'heatmap'] as const) {
    const summary =
      what === 'image' ? 'the frame of a part as it came (PNG or JPEG)' : "a part's anomaly map drawn as a PNG";
    app.get(
      `/api/parts/:line/:station/:partId/${what}`,
      {
        config: routeConfig,
        schema: {
          summary,
          params: PartParams,
          response: { 200: fileAnswer(summary, 'image/png', 'image/jpeg'), ...refusals(401, 403, 404, 422, 502) },
        },
      },
      async (request, reply) => {
        const { line, station, partId } = request.params;
        const found = await source[what](line, station, partId);
        if (!found.ok) return reply.code(found.status as 404).send({ error: found.error, message: found.message });
        return reply.type(found.type).header('cache-control', 'private, max-age=86400').send(found.bytes);
      },
    );
  }
};

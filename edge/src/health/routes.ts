/**
 * The edge's health over HTTP, open to monitoring without a session: `GET /healthz` (200 when every
 * station can inspect and record, 503 when a disk is full or failed) and `GET /metrics` for
 * Prometheus (metrics.ts). A broker outage is reported, not unhealthy: the outbox buffers it.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { StatusSchema, type Status } from '../../../contract/payloads.ts';
import { Answer, fileAnswer, inline } from '../../../shared/http/schemas.ts';
import type { EdgeMetrics } from './metrics.ts';

/** What the health routes read of a station. */
export interface Watched {
  readonly storage: { readonly ok: boolean };
  readonly connected: boolean;
  status(state: 'online'): Status;
}

const Health = Answer({
  ok: Type.Boolean({ description: 'every station can inspect and record' }),
  stations: Type.Array(
    Type.Composite([inline(StatusSchema), Type.Object({ brokerConnected: Type.Boolean() })], {
      additionalProperties: false,
    }),
  ),
});

export const healthRoutes: FastifyPluginAsync<{ stations: Map<string, Watched>; metrics: EdgeMetrics }> = async (
  plain,
  { stations, metrics },
) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const open = { access: 'public' as const };
  app.get(
    '/healthz',
    {
      config: open,
      schema: { summary: 'whether every station can inspect and record', response: { 200: Health, 503: Health } },
    },
    async (_request, reply) => {
      const ok = [...stations.values()].every((s) => s.storage.ok);
      const body = {
        ok,
        stations: [...stations.values()].map((s) => ({ ...s.status('online'), brokerConnected: s.connected })),
      };
      return reply.code(ok ? 200 : 503).send(body);
    },
  );
  app.get(
    '/metrics',
    {
      config: open,
      schema: {
        summary: 'Prometheus metrics of the edge',
        response: { 200: fileAnswer('Prometheus text format', 'text/plain') },
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
  );
};

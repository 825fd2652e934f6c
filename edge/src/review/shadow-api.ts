/**
 * Shadow models over HTTP, for managers: what the candidate in shadow would have done against the
 * live model, attaching and detaching a candidate, and promoting it (the station's model swap, the
 * tallies recorded as evidence). Who acts is the session's person, as for thresholds and models.
 */
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { PromotionSchema, ShadowSchema } from './shadow.ts';
import { RefusalSchema, StationParams } from '../../../shared/http/schemas.ts';
import { ShadowError, type ShadowDesk } from '../vision/shadow.ts';

// Refusals are the server's one shape ({ error, param?, message }, shared/http/errors.ts).
const Refusal = RefusalSchema;
const AttachBody = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'the model folder, on the station' }),
    passBelow: Type.Optional(
      Type.Number({ minimum: 0, description: "the candidate's thresholds, if not the ones its manifest proposes" }),
    ),
    rejectAbove: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
type AttachBody = { model: string; passBelow?: number; rejectAbove?: number };

export const shadowApi: FastifyPluginAsync<{ desks: Map<string, ShadowDesk> }> = async (app, { desks }) => {
  const manager = { access: 'manager' as const };
  const find = (id: string, reply: FastifyReply): ShadowDesk | null => {
    const desk = desks.get(id);
    if (!desk)
      void reply.code(404).send({
        error: 'unknown_station',
        message: `no station "${id}" here; stations: ${[...desks.keys()].join(', ')}`,
      });
    return desk ?? null;
  };
  const refuse = (reply: FastifyReply, error: unknown) => {
    if (!(error instanceof ShadowError)) throw error;
    return reply.code(error.code === 'no_candidate' ? 404 : 400).send({ error: error.code, message: error.message });
  };
  const who = (request: FastifyRequest) => request.person?.name ?? 'unknown';

  app.get<{ Params: { station: string } }>(
    '/api/stations/:station/shadow',
    { config: manager, schema: { params: StationParams, response: { 200: ShadowSchema, 404: Refusal } } },
    async (request, reply) => find(request.params.station, reply)?.view() ?? reply,
  );

  app.post<{ Params: { station: string }; Body: AttachBody }>(
    '/api/stations/:station/shadow',
    {
      config: manager,
      schema: { params: StationParams, body: AttachBody, response: { 201: ShadowSchema, 400: Refusal, 404: Refusal } },
    },
    async (request, reply) => {
      const desk = find(request.params.station, reply);
      if (!desk) return reply;
      const { model, passBelow, rejectAbove } = request.body;
      if ((passBelow === undefined) !== (rejectAbove === undefined))
        return reply.code(400).send({
          error: 'invalid_thresholds',
          message: 'give both passBelow and rejectAbove, or neither (the manifest proposes them)',
        });
      if (passBelow !== undefined && rejectAbove !== undefined && !(passBelow <= rejectAbove))
        return reply.code(400).send({
          error: 'invalid_thresholds',
          message: `passBelow ${passBelow} must not exceed rejectAbove ${rejectAbove}`,
        });
      try {
        const view = await desk.attach(
          path.resolve(model),
          who(request),
          passBelow !== undefined && rejectAbove !== undefined ? { passBelow, rejectAbove } : undefined,
        );
        return reply.code(201).send(view);
      } catch (error) {
        return refuse(reply, error);
      }
    },
  );

  app.delete<{ Params: { station: string } }>(
    '/api/stations/:station/shadow',
    { config: manager, schema: { params: StationParams, response: { 200: ShadowSchema, 404: Refusal } } },
    async (request, reply) => {
      const desk = find(request.params.station, reply);
      if (!desk) return reply;
      try {
        await desk.detach(who(request));
        return desk.view();
      } catch (error) {
        return refuse(reply, error);
      }
    },
  );

  app.post<{ Params: { station: string } }>(
    '/api/stations/:station/shadow/promote',
    {
      config: manager,
      schema: { params: StationParams, response: { 201: PromotionSchema, 400: Refusal, 404: Refusal } },
    },
    async (request, reply) => {
      const desk = find(request.params.station, reply);
      if (!desk) return reply;
      try {
        const promotion = await desk.promote(who(request));
        request.log.info(
          { station: request.params.station, model: promotion.model, by: promotion.by },
          'model promoted from shadow',
        );
        return reply.code(201).send(promotion);
      } catch (error) {
        return refuse(reply, error);
      }
    },
  );
};

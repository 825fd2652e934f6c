/**
 * Shadow models over HTTP, for managers: what the candidate in shadow would have done against the
 * live model, attaching and detaching a candidate, and promoting it (the station's model swap, the
 * tallies recorded as evidence). Who acts is the session's person, as for thresholds and models.
 */
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { PromotionSchema, ShadowSchema } from './shadow.ts';
import { ShadowError, type ShadowDesk } from '../vision/shadow.ts';

const StationParams = Type.Object({ station: Type.String() });
const Refusal = Type.Object({ error: Type.String(), message: Type.String() }, { additionalProperties: false });
const AttachBody = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'the model folder, on the station' }),
    passBelow: Type.Optional(Type.Number({ minimum: 0, description: "the candidate's thresholds, if not the ones its manifest proposes" })),
    rejectAbove: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
type AttachBody = { model: string; passBelow?: number; rejectAbove?: number };

export const shadowApi: FastifyPluginAsync<{ desks: Map<string, ShadowDesk> }> = async (app, { desks }) => {
  const manager = { access: 'manager' as const };
  const find = (id: string, reply: FastifyReply): ShadowDesk | null => {
    const desk = desks.get(id);
    if (!desk) void reply.code(404).send({ error: 'unknown_station', message: `no station "${id}" here; stations: ${[...desks.keys()].join(', ')}` });
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
    { config: manager, schema: { params: StationParams, body: AttachBody, response: { 201: ShadowSchema, 400: Refusal, 404: Refusal } } },
    async (request, reply) => {
      const desk = find(request.params.station, reply);
      if (!desk) return reply;
      const { model, passBelow, rejectAbove } = request.body;
      if ((passBelow === undefined) !== (rejectAbove === undefined)) return reply.code(400).send({ error: 'invalid_thresholds', message: 'give both passBelow and rejectAbove, or neither (the manifest proposes them)' });
      if (passBelow !== undefined && rejectAbove !== undefined && !(passBelow <= rejectAbove)) return reply.code(400).send({ error: 'invalid_thresholds', message: `passBelow ${passBelow} must not exceed rejectAbove ${rejectAbove}` });
      try {
        const view = await desk.attach(path.resolve(model), who(request), passBelow !== undefined && rejectAbove !== undefined ? { passBelow, rejectAbove } : undefined);
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
    { config: manager, schema: { params: StationParams, response: { 201: PromotionSchema, 400: Refusal, 404: Refusal } } },
    async (request, reply) => {
      const desk = find(request.params.station, reply);
      if (!desk) return reply;
      try {
        const promotion = await desk.promote(who(request));
        request.log.info({ station: request.params.station, model: promotion.model, by: promotion.by }, 'model promoted from shadow');
        return reply.code(201).send(promotion);
      } catch (error) {
        return refuse(reply, error);
      }
    },
  );
};

/** The routes above in the OpenAPI document (edge/src/log/api.ts), from the same schemas. */
export function shadowOpenApi(plain: (schema: TSchema) => object): { paths: Record<string, object>; schemas: Record<string, object> } {
  const json = (ref: string) => ({ content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });
  const station = [{ name: 'station', in: 'path', required: true, schema: { type: 'string' } }];
  const refused = (description: string) => ({ description, ...json('Error') });
  const manager = 'a manager session';
  return {
    paths: {
      '/api/stations/{station}/shadow': {
        get: { summary: `the candidate in shadow, its tallies beside the live model's, and the promotions (${manager})`, parameters: station, responses: { 200: { description: 'the shadow', ...json('Shadow') }, 404: refused('unknown station') } },
        post: {
          summary: `attach a candidate model in shadow, replacing any; its tallies start afresh (${manager})`,
          parameters: station,
          requestBody: { required: true, content: { 'application/json': { schema: plain(AttachBody) } } },
          responses: { 201: { description: 'the shadow with the candidate', ...json('Shadow') }, 400: refused('the model cannot be loaded, or crossed thresholds'), 404: refused('unknown station') },
        },
        delete: { summary: `detach the candidate; its tallies are dropped (${manager})`, parameters: station, responses: { 200: { description: 'the shadow without a candidate', ...json('Shadow') }, 404: refused('unknown station, or no candidate') } },
      },
      '/api/stations/{station}/shadow/promote': {
        post: {
          summary: `make the candidate the live model through the station's model swap, its tallies recorded in the lineage (${manager})`,
          parameters: station,
          responses: { 201: { description: 'the promotion', ...json('ShadowPromotion') }, 400: refused('the model cannot be loaded as the live model'), 404: refused('unknown station, or no candidate') },
        },
      },
    },
    schemas: { Shadow: plain(ShadowSchema), ShadowPromotion: plain(PromotionSchema) },
  };
}

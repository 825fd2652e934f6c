/**
 * The edge's review API: a station's calibration proposal, its threshold versions and their
 * approval, and swapping in a refitted model. Registered on the station's HTTP server.
 */
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Station } from '../station.ts';
import { checkKnownGood } from '../vision/known-good.ts';
import { InspectionPool } from '../vision/pool.ts';
import { WhatIfSchema } from './what-if.ts';
import { SuggestionAccuracySchema } from './suggest.ts';
import { AgreementSchema, type Opinion } from './second.ts';

export const reviewApi: FastifyPluginAsync<{ stations: Map<string, Station> }> = async (app, { stations }) => {
  const find = (id: string) => stations.get(id);
  const StationParams = Type.Object({ station: Type.String() });
  const unknown = (id: string) => ({ error: 'unknown_station', message: `no station "${id}" here; stations: ${[...stations.keys()].join(', ')}` });

  app.get<{ Params: { station: string } }>('/api/stations/:station/calibration', { config: { access: 'manager' }, schema: { params: StationParams } }, async (request, reply) => {
    const station = find(request.params.station);
    if (!station) return reply.code(404).send(unknown(request.params.station));
    return station.proposal();
  });

  app.get<{ Params: { station: string }; Querystring: { passBelow?: number; rejectAbove?: number; steps?: number } }>(
    '/api/stations/:station/what-if',
    {
      config: { access: 'manager' },
      schema: {
        params: StationParams,
        querystring: Type.Object(
          { passBelow: Type.Optional(Type.Number({ minimum: 0 })), rejectAbove: Type.Optional(Type.Number({ minimum: 0 })), steps: Type.Optional(Type.Integer({ minimum: 2, maximum: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: WhatIfSchema },
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      const ask = request.query;
      const passBelow = ask.passBelow ?? station.thresholds.passBelow;
      const rejectAbove = ask.rejectAbove ?? station.thresholds.rejectAbove;
      if ((ask.passBelow !== undefined || ask.rejectAbove !== undefined) && !(passBelow <= rejectAbove)) {
        return reply.code(400).send({ error: 'invalid_thresholds', message: `passBelow ${passBelow} must not exceed rejectAbove ${rejectAbove}` });
      }
      return station.whatIf(ask);
    },
  );

  app.get<{ Params: { station: string } }>(
    '/api/stations/:station/suggestions',
    { config: { access: 'manager' }, schema: { params: StationParams, response: { 200: SuggestionAccuracySchema } } },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      const accuracy = station.suggestionAccuracy();
      if (!accuracy) return reply.code(404).send({ error: 'no_suggestions', message: `station "${station.id}" does not suggest categories` });
      return accuracy;
    },
  );

  // Second opinions: the queue a person sees is blind (part and score, not the first answer).
  const PartParams = Type.Object({ station: Type.String(), partId: Type.String({ minLength: 1, maxLength: 128 }) });
  const OpinionBody = Type.Object(
    { decision: Type.Union([Type.Literal('accept'), Type.Literal('reject')]), category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
    { additionalProperties: false },
  );
  type OpinionRoute = { Params: { station: string; partId: string }; Body: { decision: 'accept' | 'reject'; category?: string } };
  const opinionOf = (body: OpinionRoute['Body'], user: string): Opinion => ({ user, verdict: body.decision === 'accept' ? 'pass' : 'reject', at: Date.now(), ...(body.category ? { category: body.category } : {}) });
  const secondOf = (id: string) => find(id)?.secondOpinions ?? null;
  const notAsked = (id: string) => ({ error: 'no_second_opinions', message: find(id) ? `station "${id}" asks for no second opinions` : unknown(id).message });

  app.get<{ Params: { station: string } }>('/api/stations/:station/second-opinions', { schema: { params: StationParams } }, async (request, reply) => {
    const second = secondOf(request.params.station);
    if (!second) return reply.code(404).send(notAsked(request.params.station));
    return { waiting: second.waitingFor(request.person?.name ?? '') };
  });

  app.post<OpinionRoute>('/api/stations/:station/second-opinions/:partId', { schema: { params: PartParams, body: OpinionBody } }, async (request, reply) => {
    const second = secondOf(request.params.station);
    if (!second) return reply.code(404).send(notAsked(request.params.station));
    const outcome = second.give(request.params.partId, opinionOf(request.body, request.person?.name ?? 'unknown'));
    if (outcome.kind === 'unknown') return reply.code(404).send({ error: 'unknown_part', message: outcome.message });
    if (outcome.kind === 'same_person') return reply.code(403).send({ error: 'same_person', message: outcome.message });
    if (outcome.kind === 'already') return reply.code(409).send({ error: 'conflict', message: outcome.message });
    return reply.code(201).send({ partId: request.params.partId, outcome: outcome.kind });
  });

  app.get<{ Params: { station: string } }>('/api/stations/:station/disputes', { config: { access: 'manager' }, schema: { params: StationParams } }, async (request, reply) => {
    const second = secondOf(request.params.station);
    if (!second) return reply.code(404).send(notAsked(request.params.station));
    return { disputes: second.disputes() };
  });

  app.post<OpinionRoute>('/api/stations/:station/disputes/:partId', { config: { access: 'manager' }, schema: { params: PartParams, body: OpinionBody } }, async (request, reply) => {
    const second = secondOf(request.params.station);
    if (!second) return reply.code(404).send(notAsked(request.params.station));
    const settled = second.settle(request.params.partId, opinionOf(request.body, request.person?.name ?? 'unknown'));
    if (!settled.ok) return reply.code(409).send({ error: 'conflict', message: settled.message });
    request.log.info({ partId: request.params.partId, settledBy: request.person?.name }, 'disagreement settled');
    return reply.code(201).send(settled.case);
  });

  app.get<{ Params: { station: string } }>(
    '/api/stations/:station/agreement',
    { config: { access: 'manager' }, schema: { params: StationParams, response: { 200: AgreementSchema } } },
    async (request, reply) => {
      const station = find(request.params.station);
      const second = secondOf(request.params.station);
      if (!station || !second) return reply.code(404).send(notAsked(request.params.station));
      return second.agreement(station.id);
    },
  );

  app.get<{ Params: { station: string } }>('/api/stations/:station/thresholds', { schema: { params: StationParams } }, async (request, reply) => {
    const station = find(request.params.station);
    if (!station) return reply.code(404).send(unknown(request.params.station));
    return { current: station.thresholds, versions: station.thresholdVersions };
  });

  // Who approves is who is logged in: a threshold or model change is signed by a session, not by a field.
  app.post<{ Params: { station: string }; Body: { passBelow: number; rejectAbove: number; basis?: string } }>(
    '/api/stations/:station/thresholds',
    {
      config: { access: 'manager' },
      schema: {
        params: StationParams,
        body: Type.Object({ passBelow: Type.Number(), rejectAbove: Type.Number(), basis: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      const { passBelow, rejectAbove, basis } = request.body;
      const approvedBy = request.person?.name ?? 'unknown';
      if (!(passBelow <= rejectAbove)) return reply.code(400).send({ error: 'invalid_thresholds', message: `passBelow ${passBelow} must not exceed rejectAbove ${rejectAbove}` });
      return reply.code(201).send(station.approveThresholds({ passBelow, rejectAbove }, approvedBy, basis));
    },
  );

  app.post<{ Params: { station: string }; Body: { model: string } }>(
    '/api/stations/:station/model',
    { config: { access: 'manager' }, schema: { params: StationParams, body: Type.Object({ model: Type.String({ minLength: 1 }) }, { additionalProperties: false }) } },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      let pool: InspectionPool;
      try {
        pool = await InspectionPool.start(path.resolve(request.body.model));
        await checkKnownGood(path.resolve(request.body.model), pool).catch(async (error: unknown) => {
          await pool.close();
          throw error;
        });
      } catch (error) {
        return reply.code(400).send({ error: 'invalid_model', message: (error as Error).message });
      }
      request.log.info({ station: station.id, model: request.body.model, approvedBy: request.person?.name }, 'model change approved');
      await station.swapModel(pool);
      return { model: station.modelRef };
    },
  );
};

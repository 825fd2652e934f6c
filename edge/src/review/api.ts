/**
 * The edge's review API: a station's calibration proposal, its threshold versions and their
 * approval, second opinions and disputes, and swapping in a refitted model. Registered on the
 * station's HTTP server. Route schemas give every request and answer its type. The second-opinion
 * and dispute routes are in second-api.ts, registered from here in their place among the others.
 */
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Answer, StationParams, inline, refusals } from '../../../shared/http/schemas.ts';
import type { Station } from '../station.ts';
import { checkKnownGood } from '../vision/known-good.ts';
import { InspectionPool } from '../vision/pool.ts';
import { WhatIfSchema } from './what-if.ts';
import { SuggestionAccuracySchema } from './suggest.ts';
import { secondOpinionRoutes } from './second-api.ts';

const Thresholds = Answer({ passBelow: Type.Number(), rejectAbove: Type.Number() });
const ThresholdVersion = Answer({
  passBelow: Type.Number(),
  rejectAbove: Type.Number(),
  version: Type.Integer(),
  approvedBy: Type.String(),
  at: Type.String({ format: 'date-time' }),
  basis: Type.Optional(Type.String()),
});
const Proposal = Type.Union([
  Answer({
    ok: Type.Literal(true),
    thresholds: Thresholds,
    current: Thresholds,
    decisions: Type.Integer(),
    rejected: Type.Integer(),
    accepted: Type.Integer(),
    projectedReviewRate: Type.Number(),
    currentReviewRate: Type.Number(),
  }),
  Answer({
    ok: Type.Literal(false),
    reason: Type.String({ description: 'why there is no proposal yet' }),
    decisions: Type.Integer(),
    current: Thresholds,
  }),
]);

export const reviewApi: FastifyPluginAsync<{ stations: Map<string, Station> }> = async (plain, { stations }) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const find = (id: string) => stations.get(id);
  const unknown = (id: string) => ({
    error: 'unknown_station',
    message: `no station "${id}" here; stations: ${[...stations.keys()].join(', ')}`,
  });

  app.get(
    '/api/stations/:station/calibration',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'thresholds proposed from the decided history',
        params: StationParams,
        response: { 200: Proposal, ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      return station.proposal();
    },
  );

  app.get(
    '/api/stations/:station/what-if',
    {
      config: { access: 'manager' },
      schema: {
        params: StationParams,
        querystring: Type.Object(
          {
            passBelow: Type.Optional(Type.Number({ minimum: 0 })),
            rejectAbove: Type.Optional(Type.Number({ minimum: 0 })),
            steps: Type.Optional(Type.Integer({ minimum: 2, maximum: 200 })),
          },
          { additionalProperties: false },
        ),
        summary: 'what thresholds would have done to the decided history',
        response: { 200: inline(WhatIfSchema), ...refusals(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      const ask = request.query;
      const passBelow = ask.passBelow ?? station.thresholds.passBelow;
      const rejectAbove = ask.rejectAbove ?? station.thresholds.rejectAbove;
      if ((ask.passBelow !== undefined || ask.rejectAbove !== undefined) && !(passBelow <= rejectAbove)) {
        return reply.code(400).send({
          error: 'invalid_thresholds',
          message: `passBelow ${passBelow} must not exceed rejectAbove ${rejectAbove}`,
        });
      }
      return station.whatIf(ask);
    },
  );

  app.get(
    '/api/stations/:station/suggestions',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'how often suggested categories matched what people chose',
        params: StationParams,
        response: { 200: inline(SuggestionAccuracySchema), ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      const accuracy = station.suggestionAccuracy();
      if (!accuracy)
        return reply
          .code(404)
          .send({ error: 'no_suggestions', message: `station "${station.id}" does not suggest categories` });
      return accuracy;
    },
  );

  secondOpinionRoutes(app, find, unknown);

  const Versions = Answer({ current: Thresholds, versions: Type.Array(ThresholdVersion) });
  app.get(
    '/api/stations/:station/thresholds',
    {
      schema: {
        summary: 'the thresholds in force and every approved version',
        params: StationParams,
        response: { 200: Versions, ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      return { current: station.thresholds, versions: station.thresholdVersions };
    },
  );

  // Who approves is who is logged in: a threshold or model change is signed by a session, not by a field.
  app.post(
    '/api/stations/:station/thresholds',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'approve thresholds (signed by the session)',
        params: StationParams,
        response: { 201: ThresholdVersion, ...refusals(400, 401, 403, 404) },
        body: Type.Object(
          {
            passBelow: Type.Number(),
            rejectAbove: Type.Number(),
            basis: Type.Optional(Type.String({ maxLength: 500 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      if (!station) return reply.code(404).send(unknown(request.params.station));
      const { passBelow, rejectAbove, basis } = request.body;
      const approvedBy = request.person?.name ?? 'unknown';
      if (!(passBelow <= rejectAbove))
        return reply.code(400).send({
          error: 'invalid_thresholds',
          message: `passBelow ${passBelow} must not exceed rejectAbove ${rejectAbove}`,
        });
      return reply.code(201).send(station.approveThresholds({ passBelow, rejectAbove }, approvedBy, basis));
    },
  );

  const ModelAnswer = Answer({
    model: Answer({ id: Type.String(), version: Type.String() }, 'the model now in force'),
  });
  app.post(
    '/api/stations/:station/model',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'swap in another model folder between two frames (checked against its known-good references first)',
        params: StationParams,
        body: Type.Object({ model: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
        response: { 200: ModelAnswer, ...refusals(400, 401, 403, 404) },
      },
    },
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
      request.log.info(
        { station: station.id, model: request.body.model, approvedBy: request.person?.name },
        'model change approved',
      );
      await station.swapModel(pool);
      return { model: station.modelRef };
    },
  );
};

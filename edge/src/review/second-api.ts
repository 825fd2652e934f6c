/**
 * Second opinions and disputes over HTTP: the blind queue of parts waiting for a person's second
 * opinion, giving one, the disputes a manager settles, and the agreement between people. Split out
 * of the review API (api.ts), which registers these routes in its own place among its routes, so
 * they share its station lookup and its refusal for an unknown station.
 */
import { Type } from '@sinclair/typebox';
import { HumanAnswerSchema } from '../../../contract/vocabulary.ts';
import { Answer, StationParams, inline, refusals } from '../../../shared/http/schemas.ts';
import type { TypedApp } from '../../../shared/http/server.ts';
import type { Station } from '../station.ts';
import { AgreementSchema, type Opinion } from './second.ts';

const OpinionAnswer = Answer({
  user: Type.String(),
  verdict: Type.Union([Type.Literal('pass'), Type.Literal('reject')]),
  category: Type.Optional(Type.String()),
  at: Type.Number({ description: 'ms since the epoch' }),
});
const Case = Answer({
  partId: Type.String(),
  score: Type.Union([Type.Number(), Type.Null()]),
  first: OpinionAnswer,
  second: Type.Optional(OpinionAnswer),
  settled: Type.Optional(OpinionAnswer),
});
const Waiting = Answer({
  waiting: Type.Array(Answer({ partId: Type.String(), score: Type.Union([Type.Number(), Type.Null()]) }), {
    description: 'parts waiting for a second opinion from this person (blind: no first answer)',
  }),
});

/** Registers the second-opinion, dispute and agreement routes on the review API's app. */
export function secondOpinionRoutes(
  app: TypedApp,
  find: (id: string) => Station | undefined,
  unknown: (id: string) => { error: string; message: string },
): void {
  // Second opinions: the queue a person sees is blind (part and score, not the first answer).
  const PartParams = Type.Object({
    station: Type.String({ minLength: 1, maxLength: 64 }),
    partId: Type.String({ minLength: 1, maxLength: 128 }),
  });
  const OpinionBody = Type.Object(
    { decision: HumanAnswerSchema, category: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
    { additionalProperties: false },
  );
  const opinionOf = (body: { decision: 'accept' | 'reject'; category?: string }, user: string): Opinion => ({
    user,
    verdict: body.decision === 'accept' ? 'pass' : 'reject',
    at: Date.now(),
    ...(body.category ? { category: body.category } : {}),
  });
  const secondOf = (id: string) => find(id)?.secondOpinions ?? null;
  const notAsked = (id: string) => ({
    error: 'no_second_opinions',
    message: find(id) ? `station "${id}" asks for no second opinions` : unknown(id).message,
  });

  app.get(
    '/api/stations/:station/second-opinions',
    {
      schema: {
        summary: 'parts waiting for a second opinion from the person asking',
        params: StationParams,
        response: { 200: Waiting, ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const second = secondOf(request.params.station);
      if (!second) return reply.code(404).send(notAsked(request.params.station));
      return { waiting: second.waitingFor(request.person?.name ?? '') };
    },
  );

  const Given = Answer({
    partId: Type.String(),
    outcome: Type.Union([Type.Literal('agreed'), Type.Literal('disputed')]),
  });
  app.post(
    '/api/stations/:station/second-opinions/:partId',
    {
      schema: {
        summary: 'give a second opinion',
        params: PartParams,
        body: OpinionBody,
        response: { 201: Given, ...refusals(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const second = secondOf(request.params.station);
      if (!second) return reply.code(404).send(notAsked(request.params.station));
      const outcome = second.give(request.params.partId, opinionOf(request.body, request.person?.name ?? 'unknown'));
      if (outcome.kind === 'unknown') return reply.code(404).send({ error: 'unknown_part', message: outcome.message });
      if (outcome.kind === 'same_person')
        return reply.code(403).send({ error: 'same_person', message: outcome.message });
      if (outcome.kind === 'already') return reply.code(409).send({ error: 'conflict', message: outcome.message });
      return reply.code(201).send({ partId: request.params.partId, outcome: outcome.kind });
    },
  );

  app.get(
    '/api/stations/:station/disputes',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'parts two people answered differently, for a manager to settle',
        params: StationParams,
        response: { 200: Answer({ disputes: Type.Array(Case) }), ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const second = secondOf(request.params.station);
      if (!second) return reply.code(404).send(notAsked(request.params.station));
      return { disputes: second.disputes() };
    },
  );

  app.post(
    '/api/stations/:station/disputes/:partId',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'settle a dispute',
        params: PartParams,
        body: OpinionBody,
        response: { 201: Case, ...refusals(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const second = secondOf(request.params.station);
      if (!second) return reply.code(404).send(notAsked(request.params.station));
      const settled = second.settle(request.params.partId, opinionOf(request.body, request.person?.name ?? 'unknown'));
      if (!settled.ok) return reply.code(409).send({ error: 'conflict', message: settled.message });
      request.log.info({ partId: request.params.partId, settledBy: request.person?.name }, 'disagreement settled');
      return reply.code(201).send(settled.case);
    },
  );

  app.get(
    '/api/stations/:station/agreement',
    {
      config: { access: 'manager' },
      schema: {
        summary: 'agreement between people, per pair and per category',
        params: StationParams,
        response: { 200: inline(AgreementSchema), ...refusals(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const station = find(request.params.station);
      const second = secondOf(request.params.station);
      if (!station || !second) return reply.code(404).send(notAsked(request.params.station));
      return second.agreement(station.id);
    },
  );
}

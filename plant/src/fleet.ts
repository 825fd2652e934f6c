/**
 * The plant's fleet view: every station on the plant broker with its edge box, state, Loupe version
 * and model version, from the stations' retained status (kept current by a plain subscription:
 * retained messages arrive on subscribe, later ones as they change). A manager rolls a model out
 * to a set of stations: each station's box swaps it between two frames (`POST /api/stations/S/model`,
 * answered with the model now in force) and the answers are reported back per station and kept in
 * PostgreSQL (`fleet_changes`); a roll-back swaps each station to the folder the plant rolled out
 * before the last one, or to the folder the manager names.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { IdSchema } from '../../contract/vocabulary.ts';
import { Answer, refusals } from '../../shared/http/schemas.ts';
import type { Logger } from 'pino';
import { StatusSchema, type Status } from '../../contract/payloads.ts';
import { allStations } from '../../contract/topics.ts';
import { parsePayload } from '../../contract/validate.ts';
import type { Session } from '../../dashboard/src/people.ts';
import { connectOptions, type BrokerOptions } from '../../shared/mqtt.ts';
import type { EdgeBoxes } from './images.ts';
import type { PlantStore } from './store.ts';

export class Fleet {
  readonly statuses = new Map<string, Status>();
  private client: MqttClient | null = null;

  constructor(
    private readonly broker: BrokerOptions,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const client = mqtt.connect(this.broker.url, {
      ...connectOptions(this.broker, `${this.broker.clientId ?? `loupe-plant-${process.pid}`}-fleet`),
      clean: true,
    });
    this.client = client;
    client.on('error', (error) => this.log.warn({ err: error.message }, 'mqtt error'));
    client.on('message', (_topic, payload) => {
      if (payload.length === 0) return;
      const parsed = parsePayload(StatusSchema, payload);
      if (parsed.ok) this.statuses.set(`${parsed.value.line}/${parsed.value.station}`, parsed.value);
    });
    client.on('connect', () => client.subscribe(allStations.status(this.prefix), { qos: 1 }));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
    this.client = null;
  }
}

const Station = Type.Object({ line: IdSchema(), station: IdSchema() }, { additionalProperties: false });
const ModelRef = Answer({ id: Type.String(), version: Type.String() });
const FleetStation = Answer({
  line: Type.String(),
  station: Type.String(),
  edge: Type.Union([Type.String(), Type.Null()], {
    description: 'the edge box holding the line, when the plant knows it',
  }),
  state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  software: Type.Union([Type.String(), Type.Null()]),
  model: Type.Union([ModelRef, Type.Null()]),
  at: Type.String({ format: 'date-time' }),
});
const Swapped = Answer({
  results: Type.Array(
    Answer({
      line: Type.String(),
      station: Type.String(),
      folder: Type.Optional(Type.String()),
      ok: Type.Boolean(),
      model: Type.Optional(ModelRef),
      error: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }),
    { description: "each station's answer, in the order asked" },
  ),
});
const RolloutBody = Type.Object(
  {
    stations: Type.Array(Station, { minItems: 1, maxItems: 500 }),
    model: Type.String({ minLength: 1, maxLength: 500, description: 'the model folder, as a path on the edge boxes' }),
  },
  { additionalProperties: false },
);
const RollbackBody = Type.Object(
  {
    stations: Type.Array(Station, { minItems: 1, maxItems: 500 }),
    model: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: 'the folder to go back to; default: the one the plant rolled out before the last',
      }),
    ),
  },
  { additionalProperties: false },
);
type Target = { line: string; station: string };

const CHANGES_SQL = `CREATE TABLE IF NOT EXISTS fleet_changes (
  at timestamptz NOT NULL DEFAULT now(), line text NOT NULL, station text NOT NULL, kind text NOT NULL, folder text NOT NULL,
  by_user text NOT NULL, ok boolean NOT NULL, model_id text, model_version text, message text)`;

export const fleetRoutes: FastifyPluginAsync<{ fleet: Fleet; boxes: EdgeBoxes; store: PlantStore }> = async (
  plain,
  { fleet, boxes, store },
) => {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  await store.pool.query(CHANGES_SQL);
  const config = { access: 'manager' as const };

  app.get(
    '/api/fleet',
    {
      config,
      schema: {
        summary: 'every station on the plant broker, with its box, state and versions',
        response: { 200: Type.Array(FleetStation), ...refusals(401, 403) },
      },
    },
    async () => {
      const stations = [...fleet.statuses.values()].sort(
        (a, b) => a.line.localeCompare(b.line) || a.station.localeCompare(b.station),
      );
      return stations.map((s) => ({
        line: s.line,
        station: s.station,
        edge: boxes.urlOf(s.line) ?? null,
        state: s.state,
        software: s.software ?? null,
        model: s.model ?? null,
        at: s.at,
      }));
    },
  );

  /** Swaps each station to a folder and records the answer; stations are asked one after the other, so a bad folder is seen at the first. */
  const swap = async (
    targets: Target[],
    folderOf: (t: Target) => Promise<string | null>,
    kind: 'rollout' | 'rollback',
    user: string,
  ) => {
    const results = [];
    for (const target of targets) {
      const folder = await folderOf(target);
      if (!folder) {
        results.push({
          ...target,
          ok: false,
          error: 'no_earlier_model',
          message: 'the plant rolled out no earlier model to this station; name the folder to go back to',
        });
        continue;
      }
      let outcome: { ok: boolean; model?: { id: string; version: string }; error?: string; message?: string };
      try {
        const answer = await boxes.call(target.line, `/api/stations/${target.station}/model`, { model: folder });
        const body = answer.body as {
          model?: { id: string; version: string };
          error?: string;
          message?: string;
        } | null;
        outcome =
          answer.status === 200 && body?.model
            ? { ok: true, model: body.model }
            : {
                ok: false,
                error: body?.error ?? `http_${answer.status}`,
                message: body?.message ?? `the edge box answered ${answer.status}`,
              };
      } catch (error) {
        outcome = {
          ok: false,
          error: 'edge_offline',
          message: `the edge box of ${target.line} did not answer: ${(error as Error).message}`,
        };
      }
      await store.pool.query(
        'INSERT INTO fleet_changes (line, station, kind, folder, by_user, ok, model_id, model_version, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [
          target.line,
          target.station,
          kind,
          folder,
          user,
          outcome.ok,
          outcome.model?.id ?? null,
          outcome.model?.version ?? null,
          outcome.message ?? null,
        ],
      );
      results.push({ ...target, folder, ...outcome });
    }
    return { results };
  };

  const swapped = { 200: Swapped, ...refusals(400, 401, 403) };
  app.post(
    '/api/fleet/rollout',
    {
      config,
      schema: {
        summary: 'swap a model folder in on each station, one after the other',
        body: RolloutBody,
        response: swapped,
      },
    },
    async (request) => {
      return swap(request.body.stations, async () => request.body.model, 'rollout', (request.person as Session).name);
    },
  );

  app.post(
    '/api/fleet/rollback',
    {
      config,
      schema: {
        summary: 'go back to the model folder in force before the last roll-out (or the one named)',
        body: RollbackBody,
        response: swapped,
      },
    },
    async (request) => {
      const given = request.body.model;
      const previous = async ({ line, station }: Target) => {
        if (given) return given;
        // The folder in force before the last successful change the plant made here.
        const found = await store.pool.query<{ folder: string }>(
          'SELECT folder FROM fleet_changes WHERE line = $1 AND station = $2 AND ok ORDER BY at DESC OFFSET 1 LIMIT 1',
          [line, station],
        );
        return found.rows[0]?.folder ?? null;
      };
      return swap(request.body.stations, previous, 'rollback', (request.person as Session).name);
    },
  );
};

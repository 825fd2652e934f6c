/**
 * The pieces of HTTP route schemas that many routes share: the refusal every error answer is, the
 * path parameters that name a part, and the answer shapes of files. Route schemas are the only
 * source of request and answer types (the TypeBox type provider derives them), and the OpenAPI
 * document is generated from the same schemas (openapi.ts).
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { IdSchema, PartIdSchema } from '../../contract/vocabulary.ts';

/**
 * Every refusal: a stable code, the parameter it is about when there is one, and plain words for a
 * person. Some refusals add what the caller needs to act (who holds a claim, the size limit).
 */
export const RefusalSchema = Type.Object(
  {
    error: Type.String({ description: 'a stable code, e.g. unknown_part, invalid_request, claimed' }),
    param: Type.Optional(Type.String({ description: 'the request parameter or body field the refusal is about' })),
    message: Type.String({ description: 'what went wrong and what to do, in plain words' }),
  },
  { additionalProperties: true, description: 'a refusal: `{ error, param?, message }`, sometimes with details' },
);

/** Answers 400, 404, … as refusals: `refusals(400, 404)`. */
export const refusals = <S extends number>(...statuses: S[]) =>
  Object.fromEntries(statuses.map((s) => [s, RefusalSchema])) as Record<S, typeof RefusalSchema>;

/** `/…/:line/:station/:partId` */
export const PartParams = Type.Object({
  line: IdSchema('production line id'),
  station: IdSchema('station id'),
  partId: PartIdSchema,
});
/** `/…/:station` (any string: an unknown station is a 404 that names the stations there are) */
export const StationParams = Type.Object({ station: Type.String({ minLength: 1, maxLength: 64 }) });

/** An answer in another media type than JSON (a page, an image, CSV): documented, not serialised. */
export const fileAnswer = (description: string, ...types: string[]) => ({
  description,
  content: Object.fromEntries(types.map((t) => [t, { schema: Type.String({ description }) as TSchema }])),
});

/** An object answer: every property it has is in the schema, so nothing is dropped or added unseen. */
export const Answer = <T extends Parameters<typeof Type.Object>[0]>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });

/** A contract schema used inside an answer: without its `$id`, which names the MQTT payload, not the answer. */
export const inline = <T extends TSchema>(schema: T): T => {
  const { $id: _id, ...rest } = schema;
  return rest as T;
};

/** Parses and validates inbound MQTT payloads against the contract's schemas. */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { TSchema, Static } from '@sinclair/typebox';
import { payloadSchemas } from './payloads.ts';

const ajv = new Ajv({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const compiled = new Map<TSchema, ValidateFunction>();

export type Parsed<T> = { ok: true; value: T } | { ok: false; code: 'malformed_json' | 'invalid_payload'; message: string };

export function parsePayload<S extends TSchema>(schema: S, payload: Buffer | string): Parsed<Static<S>> {
  let data: unknown;
  try {
    data = JSON.parse(payload.toString());
  } catch (error) {
    return { ok: false, code: 'malformed_json', message: `payload is not JSON: ${(error as Error).message}` };
  }
  return checkPayload(schema, data);
}

export function checkPayload<S extends TSchema>(schema: S, data: unknown): Parsed<Static<S>> {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(data)) return { ok: true, value: data as Static<S> };
  return { ok: false, code: 'invalid_payload', message: (validate.errors ?? []).map(describe).join('; ') };
}

function describe(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'payload';
  if (e.keyword === 'additionalProperties') return `${where}: unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === 'required') return `${where}: missing "${(e.params as { missingProperty: string }).missingProperty}"`;
  return `${where} ${e.message ?? e.keyword}`;
}

export { payloadSchemas };

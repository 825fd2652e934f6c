/** Parses and validates inbound MQTT payloads against the contract's schemas. */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { TSchema, Static } from '@sinclair/typebox';
import { payloadSchemas } from './payloads.ts';

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const compiled = new Map<TSchema, ValidateFunction>();

export type Parsed<T> =
  { ok: true; value: T } | { ok: false; code: 'malformed_json' | 'invalid_payload'; message: string };

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
  return { ok: false, code: 'invalid_payload', message: describeAll(validate.errors ?? []) };
}

/**
 * Ajv's errors in plain words, one per field: a choice of values says the values
 * (`decision must be "accept" or "reject"`), a pattern says what is allowed.
 */
function describeAll(errors: ErrorObject[]): string {
  const choices = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const lines: string[] = [];
  for (const e of errors) {
    const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'payload';
    if (e.keyword === 'anyOf') {
      const allowed = ((e.schema as { const?: unknown }[]) ?? []).map((option) => option.const);
      lines.push(
        allowed.every((value) => value !== undefined)
          ? `${where} must be ${allowed.map((value) => JSON.stringify(value)).join(' or ')}`
          : `${where} is not one of the allowed forms`,
      );
    } else if (choices.has(e.instancePath))
      continue; // said by its anyOf
    else if (e.keyword === 'additionalProperties')
      lines.push(`${where}: unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`);
    else if (e.keyword === 'required')
      lines.push(`${where}: missing "${(e.params as { missingProperty: string }).missingProperty}"`);
    else if (e.keyword === 'pattern') {
      const description = (e.parentSchema as { description?: string } | undefined)?.description;
      lines.push(`${where} ${JSON.stringify(e.data)} is not allowed${description ? ` (${description})` : ''}`);
    } else if (e.keyword === 'type') lines.push(`${where} must be a ${(e.params as { type: string }).type}`);
    else lines.push(`${where} ${e.message ?? e.keyword}`);
  }
  return lines.join('; ');
}

export { payloadSchemas };

import { describe, expect, it } from 'vitest';
import { DecisionSchema, TriggerSchema } from '../../contract/payloads.ts';
import { parsePayload } from '../../contract/validate.ts';

describe('inbound payload validation', () => {
  it('accepts a trigger with a part id', () => {
    expect(parsePayload(TriggerSchema, '{"partId":"P-0001"}')).toEqual({ ok: true, value: { partId: 'P-0001' } });
  });

  it('names malformed JSON, unknown keys and bad part ids', () => {
    expect(parsePayload(TriggerSchema, '{partId')).toMatchObject({ ok: false, code: 'malformed_json' });
    expect(parsePayload(TriggerSchema, '{"partId":"a","extra":1}')).toMatchObject({
      ok: false,
      code: 'invalid_payload',
      message: 'payload: unknown key "extra"',
    });
    expect(parsePayload(TriggerSchema, '{"partId":"a/b"}')).toMatchObject({
      ok: false,
      code: 'invalid_payload',
      message: 'partId "a/b" is not allowed (the part id: letters, digits and . _ : -, at most 128 characters)',
    });
  });

  it('requires who decided and what', () => {
    expect(parsePayload(DecisionSchema, '{"partId":"p","decision":"maybe","user":"ana"}')).toMatchObject({
      ok: false,
      message: 'decision must be "accept" or "reject"',
    });
    expect(parsePayload(DecisionSchema, '{"partId":"p","decision":"accept"}')).toMatchObject({
      ok: false,
      message: 'payload: missing "user"',
    });
  });
});

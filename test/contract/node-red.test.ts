/**
 * The example Node-RED flow (docs/node-red/loupe-flow.json) stays true to the contract: every MQTT
 * topic it uses is one of contract/topics.ts in the right direction, and the payloads its function
 * nodes build pass the contract's schemas. A renamed topic or a new required field fails here.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { topics, type StationAddress } from '../../contract/topics.ts';
import { DecisionSchema, ReviewSchema, TriggerSchema } from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import { repoRoot } from '../support/loupe.ts';

interface FlowNode {
  id: string;
  type: string;
  topic?: string;
  func?: string;
  outputs?: number;
  wires?: string[][];
  broker?: string;
}

const address: StationAddress = { prefix: 'loupe', line: 'line-1', station: 'station-1' };
let flow: FlowNode[];

/** Runs a function node's code as Node-RED does (one message in, a message or one per output out). */
function runFunction(node: FlowNode, msg: { payload: unknown }): unknown {
  const body = node.func as string;
  return new Function('msg', body)(structuredClone(msg)) as unknown;
}

const byId = (id: string) => flow.find((n) => n.id === id) as FlowNode;

const review = {
  schema: 'loupe/review@1',
  line: 'line-1',
  station: 'station-1',
  partId: 'P-7',
  score: 11.2,
  thresholds: { passBelow: 9.6, rejectAbove: 16.8 },
  model: { id: 'default', version: '1' },
  reasons: ['borderline'],
  openedAt: '2026-12-04T10:00:00.000Z',
  deadline: '2026-12-04T10:05:00.000Z',
  defaultAction: 'reject',
  categories: ['scratch', 'dent'],
};

beforeAll(async () => {
  flow = JSON.parse(await readFile(path.join(repoRoot, 'docs', 'node-red', 'loupe-flow.json'), 'utf8')) as FlowNode[];
});

describe('the example Node-RED flow', () => {
  it('publishes only to topics a station listens on, and subscribes only to topics a station publishes', () => {
    const inbound = [topics.trigger(address), topics.decision(address), topics.frame(address, '+')];
    const outbound = [
      topics.result(address),
      topics.verdict(address),
      topics.status(address),
      topics.error(address),
      topics.review(address, '+'),
    ];
    const outs = flow.filter((n) => n.type === 'mqtt out');
    const ins = flow.filter((n) => n.type === 'mqtt in');
    expect(outs.map((n) => n.topic).sort()).toEqual([topics.decision(address), topics.trigger(address)].sort());
    for (const n of outs) expect(inbound).toContain(n.topic);
    expect(ins.length).toBeGreaterThanOrEqual(4);
    for (const n of ins) expect(outbound).toContain(n.topic);
    for (const n of [...ins, ...outs]) expect(byId(n.broker as string).type).toBe('mqtt-broker');
  });

  it('wires only nodes that exist', () => {
    for (const n of flow)
      for (const output of n.wires ?? [])
        for (const target of output)
          expect(
            flow.some((m) => m.id === target),
            `${n.id} → ${target}`,
          ).toBe(true);
  });

  it('builds a trigger the contract accepts', () => {
    const out = runFunction(byId('make-trigger'), { payload: Date.now() }) as { payload: unknown };
    expect(checkPayload(TriggerSchema, out.payload)).toMatchObject({ ok: true });
    expect(byId('make-trigger').wires?.[0]).toEqual(['trigger-out']);
  });

  it('rejects a part Loupe could not inspect with a valid decision, and leaves a borderline part to a person', () => {
    const rule = byId('line-rule');
    expect(checkPayload(ReviewSchema, review)).toMatchObject({ ok: true });
    const [decision, person] = runFunction(rule, {
      payload: { ...review, score: null, reasons: ['missing_frame'] },
    }) as [{ payload: unknown } | null, unknown];
    expect(person).toBeNull();
    expect(checkPayload(DecisionSchema, decision?.payload)).toMatchObject({ ok: true });
    expect(decision?.payload).toMatchObject({ partId: 'P-7', decision: 'reject' });
    expect(rule.wires?.[0]).toEqual(['decision-out']);

    const [none, forPerson] = runFunction(rule, { payload: JSON.stringify(review) }) as [
      unknown,
      { payload: unknown } | null,
    ];
    expect(none).toBeNull();
    expect(forPerson?.payload).toMatchObject({ partId: 'P-7' });
    // a review cleared by the station (empty retained message) is no work
    expect(runFunction(rule, { payload: '' })).toBeNull();
  });

  it("turns a person's request into a decision the contract accepts", () => {
    const out = runFunction(byId('decide-from-request'), {
      payload: { partId: 'P-7', decision: 'accept', user: 'ana', category: 'scratch' },
    }) as { payload: unknown };
    expect(checkPayload(DecisionSchema, out.payload)).toMatchObject({
      ok: true,
      value: { partId: 'P-7', decision: 'accept', user: 'ana' },
    });
  });
});

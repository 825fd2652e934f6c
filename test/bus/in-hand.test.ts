import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PartsInHand } from '../../edge/src/bus/in-hand.ts';
import { StationLink } from '../../edge/src/bus/link.ts';
import { tempDirSync } from '../support/temp.ts';

const dir = () => tempDirSync('loupe-inhand-');

describe('parts in hand', () => {
  it('is on disk when a part is taken, and leaves a restart the parts never answered', () => {
    const where = dir();
    const before = new PartsInHand(where);
    expect(before.left).toEqual([]);
    for (const partId of ['A', 'B', 'C', 'D']) before.take(partId, 'mqtt');
    before.take('B', 'trigger'); // the frame of a part whose trigger came first: still one part
    before.answer('B');
    before.answer('D');
    // the process dies here (no close)
    const after = new PartsInHand(where);
    expect(after.left.map((part) => [part.partId, part.source])).toEqual([
      ['A', 'mqtt'],
      ['C', 'mqtt'],
    ]);
    expect(after.left[0].at).toMatch(/^\d{4}-\d\d-\d\dT/);
    after.answer('A');
    after.answer('C');
    after.close();
    expect(new PartsInHand(where).left).toEqual([]);
  });

  it('keeps a part in hand when the transition that answered it failed', () => {
    const where = dir();
    const inHand = new PartsInHand(where);
    inHand.take('kept', 'mqtt');
    expect(() =>
      inHand.store.transition(() => {
        inHand.answer('kept');
        throw new Error('its result could not be recorded');
      }),
    ).toThrow('could not be recorded');
    expect(new PartsInHand(where).left.map((part) => part.partId)).toEqual(['kept']);
    inHand.answer('kept'); // still in hand in memory too: answered now
    expect(new PartsInHand(where).left).toEqual([]);
    inHand.close();
  });

  it("migrates an older station's files, and does not count a part as interrupted when its result reached the outbox before the crash", () => {
    const where = dir();
    // What an older station left: A, B and C in hand, B answered in the outbox (its mark lost with the process), a review of C.
    writeFileSync(
      path.join(where, 'in-hand.jsonl'),
      ['A', 'B', 'C']
        .map((partId) => `${JSON.stringify({ in: { partId, source: 'mqtt', at: '2026-12-04T08:00:00.000Z' } })}\n`)
        .join(''),
    );
    const result = (partId: string) => ({
      topic: 'loupe/l/s/result',
      payload: JSON.stringify({ schema: 'loupe/result@1', line: 'l', station: 's', partId, verdict: 'pass' }),
      retain: false,
    });
    const review = { topic: 'loupe/l/s/review/C', payload: JSON.stringify({ partId: 'C' }), retain: true };
    const lines = [result('B'), review].map((m) => `${JSON.stringify(m)}\n`);
    writeFileSync(path.join(where, 'outbox.jsonl'), lines.join(''));
    writeFileSync(path.join(where, 'outbox.ack'), String(Buffer.byteLength(lines[0]))); // B's result was even delivered
    const link = new StationLink(
      { url: 'mqtt://127.0.0.1:1' },
      { prefix: 'loupe', line: 'l', station: 's' },
      where,
      pino({ level: 'silent' }),
    );
    expect(link.interrupted.map((part) => part.partId)).toEqual(['A', 'C']);
    expect(link.outboxDepth).toBe(1); // only the review is still owed to the broker
    for (const file of ['in-hand.jsonl', 'outbox.jsonl', 'outbox.ack']) {
      expect(existsSync(path.join(where, file)), file).toBe(false);
      expect(existsSync(path.join(where, `${file}.migrated`)), file).toBe(true);
    }
  });
});

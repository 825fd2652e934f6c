import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { PartsInHand } from '../../edge/src/bus/in-hand.ts';
import { StationLink } from '../../edge/src/bus/link.ts';
import { tempDirSync } from '../support/temp.ts';

const dir = () => tempDirSync('loupe-inhand-');
const journal = (where: string) => readFileSync(path.join(where, 'in-hand.jsonl'), 'utf8').trim().split('\n').filter(Boolean);

describe('parts in hand', () => {
  it('is on disk when a part is taken, and leaves a restart the parts never answered', () => {
    const where = dir();
    const before = new PartsInHand(where);
    expect(before.left).toEqual([]);
    for (const partId of ['A', 'B', 'C', 'D']) before.take(partId, 'mqtt');
    before.take('B', 'trigger'); // the frame of a part whose trigger came first: still one part
    expect(journal(where)).toHaveLength(4); // written at once, before any acknowledgement
    before.answer('B');
    before.answer('D');
    before.flush();
    before.answer('C'); // answered, but the process dies before the next flush
    appendFileSync(path.join(where, 'in-hand.jsonl'), '{"in":{"partId":"E"'); // and mid-write of a fifth
    const after = new PartsInHand(where);
    expect(after.left.map((part) => [part.partId, part.source])).toEqual([['A', 'mqtt'], ['C', 'mqtt']]);
    expect(after.left[0].at).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The restart starts the file again with what is still in hand, and no torn line.
    expect(journal(where).map((line) => JSON.parse(line).in.partId)).toEqual(['A', 'C']);
    after.answer('A');
    after.answer('C');
    after.close();
    expect(new PartsInHand(where).left).toEqual([]);
  });

  it('starts its file again once answered parts make up most of it', async () => {
    const where = dir();
    const inHand = new PartsInHand(where);
    inHand.take('kept', 'mqtt');
    for (let i = 0; i < 12_000; i++) {
      inHand.take(`p-${i}`, 'mqtt');
      inHand.answer(`p-${i}`);
      if (i % 100 === 99) {
        inHand.flush(); // as the outbox's tick does, with time between for the fsync it starts
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    inHand.flush();
    expect(journal(where).length).toBeLessThan(4_000);
    inHand.close();
    expect(new PartsInHand(where).left.map((part) => part.partId)).toEqual(['kept']);
  });

  it('does not count a part as interrupted when its result reached the outbox before the crash', () => {
    const where = dir();
    const inHand = new PartsInHand(where);
    for (const partId of ['A', 'B', 'C']) inHand.take(partId, 'mqtt');
    inHand.close(); // nothing answered on disk
    // B's result is in the outbox (its answered mark was lost with the process); so is a review of C.
    const result = (partId: string) => ({ topic: 'loupe/l/s/result', payload: JSON.stringify({ schema: 'loupe/result@1', line: 'l', station: 's', partId, verdict: 'pass' }), retain: false });
    const review = { topic: 'loupe/l/s/review/C', payload: JSON.stringify({ partId: 'C' }), retain: true };
    const lines = [result('B'), review].map((m) => `${JSON.stringify(m)}\n`);
    writeFileSync(path.join(where, 'outbox.jsonl'), lines.join(''));
    writeFileSync(path.join(where, 'outbox.ack'), String(Buffer.byteLength(lines[0]))); // B's result was even delivered
    const link = new StationLink({ url: 'mqtt://127.0.0.1:1' }, { prefix: 'loupe', line: 'l', station: 's' }, where, pino({ level: 'silent' }));
    expect(link.interrupted.map((part) => part.partId)).toEqual(['A', 'C']);
    expect(link.outboxDepth).toBe(1); // only the review is still owed to the broker
  });
});

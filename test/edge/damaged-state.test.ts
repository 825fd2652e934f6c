/**
 * State files found damaged at start (truncated, garbage, the wrong shape): the station names each
 * file and what is wrong, keeps it aside, starts, and inspects; open reviews in the readable lines
 * wait again, and the loss of the others is said loudly.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { run } from '../../cli/run.ts';
import { checkConfig } from '../../config/load.ts';
import type { Result } from '../../contract/payloads.ts';
import { goodPart } from '../support/parts.ts';
import { tempDir } from '../support/temp.ts';

const garbage = Buffer.from([0x00, 0xff, 0x7b, 0x22, 0x0a, 0x9c, 0x00, 0x0a, 0x5d, 0x5d]);

describe('damaged state files at start', () => {
  it('names each damaged file, keeps it aside, and starts and inspects', async () => {
    const dir = await tempDir('loupe-damaged-');
    const dataDir = path.join(dir, 'data');
    const outbox = path.join(dataDir, 'outbox', 'dmg', 'cam-1');
    const state = path.join(dataDir, 'reviews', 'dmg', 'cam-1');
    mkdirSync(outbox, { recursive: true });
    mkdirSync(state, { recursive: true });
    const review = (partId: string) => ({
      opened: { partId, score: 5, reasons: ['borderline'], openedAt: Date.now(), deadline: Date.now() + 600_000 },
    });
    const files: Record<string, string | Buffer> = {
      [path.join(outbox, 'outbox.jsonl')]: Buffer.concat([
        Buffer.from('{"topic":"loupe/dmg/cam-1/error","payload":"{}","retain":false}\n'),
        garbage,
        Buffer.from('\n'),
      ]),
      [path.join(outbox, 'outbox.ack')]: 'not a number',
      [path.join(outbox, 'in-hand.jsonl')]: Buffer.concat([
        garbage,
        Buffer.from('\n{"in":{"partId":"H-1","source":"mqtt","at":"2026-12-04T08:00:00.000Z"}}\n'),
      ]),
      // a readable open review, a torn one in the middle, another readable one
      [path.join(state, 'open-reviews.jsonl')]:
        `${JSON.stringify(review('R-1'))}\n{"opened":{"partId":"R-2","sco\n${JSON.stringify(review('R-3'))}\n`,
      [path.join(state, 'answers.jsonl')]: Buffer.concat([garbage, Buffer.from('\n')]),
      [path.join(state, 'scores.json')]: '{"counts": [1, 2, ',
      [path.join(state, 'thresholds.json')]: '[]',
      [path.join(state, 'decisions-2026-12-04.jsonl')]: Buffer.concat([
        garbage,
        Buffer.from('\n{"partId":"R-0","verdict":"pass","decidedBy":"human","score":5,"at":1}\n'),
      ]),
    };
    for (const [file, content] of Object.entries(files)) writeFileSync(file, content);

    const lines: { msg: string; file?: string; holds?: string; keptAt?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = checkConfig({
      line: 'dmg',
      dataDir,
      mqtt: { port: 0 },
      http: { port: 0 },
      dashboard: { admin: { user: 'admin', password: 'admin-password-for-tests' } },
      stations: [
        { id: 'cam-1', thresholds: { passBelow: 1e9, rejectAbove: 2e9 }, audit: { share: 0 }, queue: { workers: 1 } },
      ],
    });
    const running = await run(config, { broker: true, edge: true, dashboard: false }, log);
    try {
      const damaged = lines.filter((line) => line.msg.startsWith('damaged state file'));
      for (const file of Object.keys(files)) {
        const report = damaged.find((line) => line.file === file);
        expect(report, `a report naming ${file}`).toBeDefined();
        expect(report?.keptAt, file).toMatch(/\.damaged-/);
      }
      // the file as it was is kept beside it, for a person to look at or restore from
      expect(readdirSync(state).filter((name) => name.includes('.damaged-')).length).toBeGreaterThanOrEqual(5);
      expect(damaged.find((line) => line.holds === 'open reviews')?.msg).toContain(
        'OPEN REVIEWS IN IT ARE NOT WAITING ANY MORE',
      );
      const health = (await (await fetch(new URL('/healthz', running.httpUrl))).json()) as {
        stations: { openReviews: number }[];
      };
      expect(health.stations[0].openReviews).toBe(3); // wait again; H-1, in hand, is answered interrupted
      const response = await fetch(new URL('/api/stations/cam-1/frames?partId=N-1', running.httpUrl), {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: new Uint8Array(await goodPart(1)),
      });
      expect(((await response.json()) as Result).verdict).toBe('pass');
    } finally {
      await running.stop();
    }
  }, 60_000);
});

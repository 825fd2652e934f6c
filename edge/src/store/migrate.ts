/**
 * A data folder from before the store: its journals (outbox and delivery offset, parts in hand, open
 * reviews in both older formats, decided reviews by day, part answers, advice lines) are read with the
 * readers they were written for, damaged lines reported and kept aside as before, and copied into the
 * store in one transaction, which also lists the files it took. Once committed each file is renamed
 * `<name>.migrated`; a crash between the two only renames at the next start (a listed file is never
 * read twice). A part in hand whose result was already in the old outbox was answered: it is not
 * carried over as interrupted.
 */
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { readJsonLines } from '../json-lines.ts';
import { damagedKept, damagedMoved } from '../../../shared/damaged.ts';
import type { StationStore } from './store.ts';

/** The advice files kept as lines of the `advice` table, by kind (the file's name). */
export const ADVICE_FILES = ['categories.jsonl', 'second-opinions.jsonl'];

interface Message {
  topic: string;
  payload: string;
  retain: boolean;
}

export function migrate(store: StationStore, dirs: string[]): void {
  const db = store.db;
  db.exec('CREATE TABLE IF NOT EXISTS migrated (file TEXT PRIMARY KEY, at TEXT NOT NULL)');
  const done = new Set((db.prepare('SELECT file FROM migrated').all() as { file: string }[]).map((row) => row.file));
  const found: string[] = [];
  const take = (file: string) => {
    if (!existsSync(file)) return false;
    found.push(file);
    return !done.has(file);
  };
  const work: (() => void)[] = [];
  const answeredInOutbox = new Set<string>();
  for (const dir of dirs) {
    const outbox = path.join(dir, 'outbox.jsonl');
    const ack = path.join(dir, 'outbox.ack');
    if (take(outbox)) {
      const messages = oldOutbox(outbox, existsSync(ack) ? ack : null, answeredInOutbox);
      work.push(() =>
        messages.forEach((m) =>
          db
            .prepare('INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)')
            .run(m.topic, m.payload, m.retain ? 1 : 0),
        ),
      );
    }
    if (existsSync(ack)) take(ack);
  }
  for (const dir of dirs) {
    const inHand = path.join(dir, 'in-hand.jsonl');
    if (take(inHand)) {
      const left = new Map<string, { partId: string; source: string; at: string }>();
      const valid = (v: unknown) =>
        typeof (v as { out?: unknown }).out === 'string' ||
        typeof (v as { in?: { partId?: unknown } }).in?.partId === 'string';
      for (const line of readJsonLines<{ in: { partId: string; source: string; at: string } } | { out: string }>(
        inHand,
        'parts in hand (parts owed a result)',
        valid,
      )) {
        if ('in' in line) left.set(line.in.partId, line.in);
        else left.delete(line.out);
      }
      for (const partId of answeredInOutbox) left.delete(partId);
      work.push(() =>
        left.forEach((p) => db.prepare('INSERT OR IGNORE INTO in_hand VALUES (?, ?, ?)').run(p.partId, p.source, p.at)),
      );
    }
    const reviews = new Map<string, { partId: string }>();
    const legacy = path.join(dir, 'open-reviews.json');
    if (take(legacy)) {
      let open: unknown = null;
      try {
        open = (JSON.parse(readFileSync(legacy, 'utf8')) as { open?: unknown }).open ?? [];
      } catch {
        // damaged: reported below
      }
      if (Array.isArray(open)) for (const review of open as { partId: string }[]) reviews.set(review.partId, review);
      else damagedMoved(legacy, 'is not a valid open reviews document', 'open reviews');
    }
    const journal = path.join(dir, 'open-reviews.jsonl');
    if (take(journal)) {
      const valid = (v: unknown) =>
        typeof (v as { closed?: unknown }).closed === 'string' ||
        typeof (v as { opened?: { partId?: unknown } }).opened?.partId === 'string';
      for (const line of readJsonLines<{ opened: { partId: string } } | { closed: string }>(
        journal,
        'open reviews',
        valid,
      )) {
        if ('opened' in line) reviews.set(line.opened.partId, line.opened);
        else reviews.delete(line.closed);
      }
    }
    if (reviews.size > 0)
      work.push(() =>
        reviews.forEach((r) =>
          db.prepare('INSERT OR REPLACE INTO open_reviews VALUES (?, ?)').run(r.partId, JSON.stringify(r)),
        ),
      );
    const days = existsSync(dir)
      ? readdirSync(dir)
          .filter((name) => /^decisions-\d{4}-\d{2}-\d{2}\.jsonl$/.test(name))
          .sort()
      : [];
    for (const name of days) {
      const file = path.join(dir, name);
      if (!take(file)) continue;
      const closings = readJsonLines<{ partId: string; at: number }>(
        file,
        'decided reviews',
        (v) => typeof (v as { partId?: unknown }).partId === 'string' && typeof (v as { at?: unknown }).at === 'number',
      );
      const day = name.slice('decisions-'.length, -'.jsonl'.length);
      work.push(() =>
        closings.forEach((c) =>
          db
            .prepare('INSERT INTO decisions (part_id, day, closing) VALUES (?, ?, ?)')
            .run(c.partId, day, JSON.stringify(c)),
        ),
      );
    }
    const answers = path.join(dir, 'answers.jsonl');
    if (take(answers)) {
      const valid = (v: unknown) =>
        typeof (v as { partId?: unknown }).partId === 'string' &&
        typeof (v as { at?: unknown }).at === 'number' &&
        typeof (v as { result?: unknown }).result === 'object';
      const lines = readJsonLines<{ partId: string; at: number }>(
        answers,
        'part answers (what a redelivered frame is answered)',
        valid,
      );
      work.push(() =>
        lines.forEach((a) =>
          db.prepare('INSERT OR REPLACE INTO answers VALUES (?, ?, ?)').run(a.partId, a.at, JSON.stringify(a)),
        ),
      );
    }
    for (const kind of ADVICE_FILES) {
      const file = path.join(dir, kind);
      if (!take(file)) continue;
      const lines = readJsonLines<unknown>(file);
      work.push(() =>
        lines.forEach((line) =>
          db.prepare('INSERT INTO advice (kind, line) VALUES (?, ?)').run(kind, JSON.stringify(line)),
        ),
      );
    }
  }
  if (found.length === 0) return;
  const at = new Date().toISOString();
  store.transition(() => {
    for (const step of work) step();
    for (const file of found) db.prepare('INSERT OR IGNORE INTO migrated VALUES (?, ?)').run(file, at);
  }, 'the migration of the station state');
  for (const file of found) if (existsSync(file)) renameSync(file, `${file}.migrated`);
}

/**
 * The messages of an old outbox not yet acknowledged (the ack file holds the byte offset delivered up
 * to); notes every part whose result it holds, delivered or not, in `answered`.
 */
function oldOutbox(file: string, ackFile: string | null, answered: Set<string>): Message[] {
  const content = readFileSync(file);
  const ackText = ackFile ? readFileSync(ackFile, 'utf8') : '';
  let acked = Number(ackText);
  if (ackText.trim() !== '' && !(Number.isInteger(acked) && acked >= 0)) {
    damagedKept(
      ackFile as string,
      ackText.length,
      `holds "${ackText.slice(0, 40)}", not a byte offset; every message in the outbox is sent again`,
      'outbox delivery offset',
    );
    acked = 0;
  }
  if (!(Number.isInteger(acked) && acked >= 0)) acked = 0;
  const out: Message[] = [];
  let start = 0;
  let unreadable = 0;
  while (start < content.length) {
    const newline = content.indexOf(10, start);
    if (newline < 0) break; // a half-written last line: never published
    let message: Message | null = null;
    try {
      message = JSON.parse(content.subarray(start, newline).toString()) as Message;
    } catch {
      unreadable += 1;
    }
    if (message && (typeof message.topic !== 'string' || typeof message.payload !== 'string')) {
      message = null;
      unreadable += 1;
    }
    if (message) {
      if (start >= acked) out.push(message);
      if (message.topic.endsWith('/result')) {
        const partId = /"partId":"([^"]+)"/.exec(message.payload)?.[1];
        if (partId) answered.add(partId);
      }
    }
    start = newline + 1;
  }
  if (unreadable > 0)
    damagedKept(
      file,
      content.length,
      `${unreadable} lines cannot be read and are not delivered`,
      'outbox (messages owed to the line)',
    );
  return out;
}

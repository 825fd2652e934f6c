/**
 * Which engine holds a station's state: SQLite in WAL mode (better-sqlite3) or one append-only log
 * of JSON lines. Each writes the same transition of a part (its result and verdict in the outbox, its
 * answer remembered, its in-hand mark cleared) as one durable unit, `transitions` times; then a
 * restart reads back what is still owed. Used once to choose (docs/decisions.md#one-store).
 *
 *   npx tsx bench/store-engine.ts [transitions]     prints one JSON object
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

const transitions = Number(process.argv[2] ?? 2000);
const payload = JSON.stringify({
  schema: 'loupe/result@1',
  line: 'l',
  station: 's',
  verdict: 'pass',
  score: 0.42,
  reasons: [],
  at: new Date().toISOString(),
  pad: 'x'.repeat(400),
});

function sqlite(dir: string, synchronous: 'NORMAL' | 'FULL'): { perSecond: number; recoverMs: number } {
  const file = path.join(dir, `${synchronous}.db`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec(
    'CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT, payload TEXT, retain INTEGER); CREATE TABLE answers (part_id TEXT PRIMARY KEY, answer TEXT); CREATE TABLE in_hand (part_id TEXT PRIMARY KEY, source TEXT)',
  );
  const send = db.prepare('INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, 0)');
  const answer = db.prepare('INSERT OR REPLACE INTO answers VALUES (?, ?)');
  const taken = db.prepare('DELETE FROM in_hand WHERE part_id = ?');
  const transition = db.transaction((partId: string) => {
    send.run('loupe/l/s/result', payload);
    send.run('loupe/l/s/verdict', payload);
    answer.run(partId, payload);
    taken.run(partId);
  });
  const start = performance.now();
  for (let i = 0; i < transitions; i++) transition(`P-${i}`);
  const perSecond = transitions / ((performance.now() - start) / 1000);
  db.close();
  const again = performance.now();
  const reopened = new Database(file);
  reopened.pragma('journal_mode = WAL');
  reopened.prepare('SELECT * FROM outbox ORDER BY seq').all();
  reopened.prepare('SELECT * FROM answers').all();
  const recoverMs = performance.now() - again;
  reopened.close();
  return { perSecond: Math.round(perSecond), recoverMs: Math.round(recoverMs * 10) / 10 };
}

function appendLog(dir: string, fsyncEach: boolean): { perSecond: number; recoverMs: number } {
  const file = path.join(dir, `log-${fsyncEach}.jsonl`);
  const fd = openSync(file, 'a');
  const start = performance.now();
  for (let i = 0; i < transitions; i++) {
    const record = {
      partId: `P-${i}`,
      outbox: [
        { topic: 'loupe/l/s/result', payload },
        { topic: 'loupe/l/s/verdict', payload },
      ],
      answer: payload,
      out: `P-${i}`,
    };
    writeSync(fd, `${JSON.stringify(record)}\n`);
    if (fsyncEach) fsyncSync(fd);
  }
  const perSecond = transitions / ((performance.now() - start) / 1000);
  closeSync(fd);
  const again = performance.now();
  const state = new Map<string, unknown>();
  for (const line of readFileSync(file, 'utf8').split('\n')) if (line) state.set(JSON.parse(line).partId, line);
  const recoverMs = performance.now() - again;
  return { perSecond: Math.round(perSecond), recoverMs: Math.round(recoverMs * 10) / 10 };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'loupe-store-engine-'));
try {
  console.log(
    JSON.stringify({
      transitions,
      sqliteWalNormal: sqlite(dir, 'NORMAL'),
      sqliteWalFull: sqlite(dir, 'FULL'),
      appendLogNoFsync: appendLog(dir, false),
      appendLogFsyncEach: appendLog(dir, true),
      loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The plant's records in PostgreSQL: every station's log events, the entries folded from them, and
 * the per-minute tallies of every inspection. Three tables, each partitioned by day (declarative
 * range partitioning; a day's partitions are created when its first row comes):
 *
 * - `log_events`: one row per event, the primary key (line, station, part, inspected_at, event) makes a
 *   redelivered event a no-op (`ON CONFLICT DO NOTHING`); the timeline of a part's detail.
 * - `log_parts`: one row per stored part, what the manager's filters read, indexed for them. Each
 *   new event (only those the insert above kept) merges its columns into the row, whatever order
 *   the events arrive in: a verdict that overtakes its result (two plant instances) fills its columns
 *   and waits for the result's.
 * - `log_tallies`: a station's count per minute and outcome; a later tally of a minute replaces it.
 *
 * Writes are batches: one transaction, one multi-row INSERT per table (arrays through `unnest`).
 * It also answers the log's routes (`LogSource`), with the same filters as an edge.
 */
import pg from 'pg';
import type { Shift } from '../../config/schema.ts';
import type { LogMessage, PartEvent, TallyEvent } from '../../contract/payloads.ts';
import { analyse, type Analytics } from '../../edge/src/log/analytics.ts';
import type { Count, Outcome } from '../../edge/src/log/minute-counts.ts';
import type { Entry, LogEvent } from '../../edge/src/log/entry.ts';
import type { Filter, Page } from '../../edge/src/log/query.ts';
import type { KnownValues, LogSource, Paged } from '../../edge/src/log/source.ts';

const DAY = 86_400_000;

export const TABLES_SQL = `
CREATE TABLE IF NOT EXISTS log_events (
  line text NOT NULL, station text NOT NULL, part_id text NOT NULL, inspected_at timestamptz NOT NULL,
  event text NOT NULL, at timestamptz NOT NULL, body jsonb NOT NULL,
  PRIMARY KEY (line, station, part_id, inspected_at, event)
) PARTITION BY RANGE (inspected_at);
CREATE TABLE IF NOT EXISTS log_parts (
  line text NOT NULL, station text NOT NULL, part_id text NOT NULL, inspected_at timestamptz NOT NULL,
  has_result boolean NOT NULL DEFAULT false,
  model_verdict text, score double precision, pass_below double precision, reject_above double precision,
  model_id text, model_version text, reasons text[], detail text, source text, image text, heatmap text,
  expired boolean NOT NULL DEFAULT false, claimed_by text, users text[] NOT NULL DEFAULT '{}',
  decision jsonb, final jsonb, final_verdict text, decided_by text, category text,
  PRIMARY KEY (line, station, part_id, inspected_at)
) PARTITION BY RANGE (inspected_at);
CREATE TABLE IF NOT EXISTS log_tallies (
  line text NOT NULL, station text NOT NULL, minute timestamptz NOT NULL, outcome text NOT NULL, n integer NOT NULL,
  PRIMARY KEY (line, station, minute, outcome)
) PARTITION BY RANGE (minute);
`;

/** The manager's filters: time first (newest first), then station, line, verdict, model, category, reason, person. */
export const INDEXES_SQL = `
CREATE INDEX IF NOT EXISTS log_parts_at ON log_parts (inspected_at DESC);
CREATE INDEX IF NOT EXISTS log_parts_station_at ON log_parts (station, inspected_at DESC);
CREATE INDEX IF NOT EXISTS log_parts_line_at ON log_parts (line, inspected_at DESC);
CREATE INDEX IF NOT EXISTS log_parts_verdict_at ON log_parts (final_verdict, inspected_at DESC);
CREATE INDEX IF NOT EXISTS log_parts_model_at ON log_parts (model_version, inspected_at DESC);
CREATE INDEX IF NOT EXISTS log_parts_category_at ON log_parts (category, inspected_at DESC) WHERE category IS NOT NULL;
CREATE INDEX IF NOT EXISTS log_parts_reasons ON log_parts USING gin (reasons);
CREATE INDEX IF NOT EXISTS log_parts_users ON log_parts USING gin (users);
`;

const TABLES = ['log_events', 'log_parts', 'log_tallies'] as const;

export interface WriteOutcome {
  /** part events new to the store */
  added: number;
  /** part events it already held (redelivered) */
  repeated: number;
  tallies: number;
}

/** A part's columns as the events of one batch fill them; undefined: the batch says nothing of it. */
interface PartRow {
  line: string;
  station: string;
  partId: string;
  inspectedAt: string;
  result?: Extract<PartEvent, { kind: 'result' }>;
  claimedBy?: string;
  users: string[];
  decision?: object;
  final?: { verdict: string; decidedBy: string; user?: string; category?: string; at: string };
  category?: string;
  expired?: boolean;
}

export const eventKey = (event: PartEvent) =>
  `${event.kind}@${event.at}${event.kind === 'claim' ? `@${event.user}` : ''}`;

export class PlantStore implements LogSource {
  /** days whose partitions exist, as "YYYY-MM-DD" */
  private readonly days = new Set<string>();

  constructor(readonly pool: pg.Pool) {}

  static async open(connectionString?: string, options: { max?: number } = {}): Promise<PlantStore> {
    const pool = new pg.Pool({ connectionString, max: options.max ?? 4 });
    const store = new PlantStore(pool);
    await store.migrate();
    return store;
  }

  async migrate(): Promise<void> {
    await this.pool.query(TABLES_SQL + INDEXES_SQL);
  }

  close(): Promise<void> {
    return this.pool.end();
  }

  /** Creates the day partitions of these times that do not exist yet (safe against another instance doing the same). */
  async ensureDays(client: pg.PoolClient | pg.Pool, times: Iterable<string>): Promise<void> {
    const missing = new Set<string>();
    for (const time of times) {
      const day = new Date(Math.floor(Date.parse(time) / DAY) * DAY).toISOString().slice(0, 10);
      if (!this.days.has(day)) missing.add(day);
    }
    for (const day of missing) {
      const from = `${day}T00:00:00Z`;
      const to = new Date(Date.parse(from) + DAY).toISOString();
      for (const table of TABLES) {
        try {
          await client.query(
            `CREATE TABLE IF NOT EXISTS ${table}_${day.replaceAll('-', '')} PARTITION OF ${table} FOR VALUES FROM ('${from}') TO ('${to}')`,
          );
        } catch (error) {
          // Another instance created it between our check and our CREATE: it exists, which is all we need.
          if ((error as { code?: string }).code !== '42P07' && (error as { code?: string }).code !== '23505')
            throw error;
        }
      }
      this.days.add(day);
    }
  }

  /**
   * Writes a batch of log messages in one transaction: events new to the store (redelivered ones are
   * skipped), their parts' rows merged, tallies replaced. Throws when PostgreSQL does; nothing of
   * the batch is then kept, and the caller delivers it again.
   */
  async write(messages: readonly LogMessage[]): Promise<WriteOutcome> {
    const events: { event: PartEvent; inspectedAt: string }[] = [];
    const tallies: TallyEvent[] = [];
    for (const message of messages) {
      if (message.event.kind === 'tally') tallies.push(message.event);
      else events.push({ event: message.event, inspectedAt: message.inspectedAt ?? message.event.at });
    }
    // One lock order for every batch: two batches written at once wait for each other, never deadlock.
    const byKey = (a: { event: PartEvent; inspectedAt: string }) =>
      `${a.event.line}/${a.event.station}/${a.event.partId}/${a.inspectedAt}/${eventKey(a.event)}`;
    events.sort((a, b) => (byKey(a) < byKey(b) ? -1 : byKey(a) > byKey(b) ? 1 : 0));
    const client = await this.pool.connect();
    try {
      await this.ensureDays(client, [...events.map((e) => e.inspectedAt), ...tallies.map((t) => t.minute)]);
      await client.query('BEGIN');
      let added = 0;
      if (events.length > 0) {
        const inserted = await client.query<{ k: string }>(
          `INSERT INTO log_events (line, station, part_id, inspected_at, event, at, body)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[], $7::jsonb[])
           ON CONFLICT DO NOTHING
           RETURNING line || '/' || station || '/' || part_id || '/' || event AS k`,
          [
            events.map((e) => e.event.line),
            events.map((e) => e.event.station),
            events.map((e) => e.event.partId),
            events.map((e) => e.inspectedAt),
            events.map((e) => eventKey(e.event)),
            events.map((e) => e.event.at),
            events.map((e) => JSON.stringify(e.event)),
          ],
        );
        const fresh = new Set(inserted.rows.map((row) => row.k));
        const kept = events.filter((e) =>
          fresh.delete(`${e.event.line}/${e.event.station}/${e.event.partId}/${eventKey(e.event)}`),
        );
        added = kept.length;
        if (kept.length > 0) await this.mergeParts(client, kept);
      }
      if (tallies.length > 0) await this.replaceTallies(client, tallies);
      await client.query('COMMIT');
      return { added, repeated: events.length - added, tallies: tallies.length };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async mergeParts(client: pg.PoolClient, events: { event: PartEvent; inspectedAt: string }[]): Promise<void> {
    const rows = new Map<string, PartRow>();
    for (const { event, inspectedAt } of events) {
      const key = `${event.line}/${event.station}/${event.partId}/${inspectedAt}`;
      let row = rows.get(key);
      if (!row)
        rows.set(
          key,
          (row = { line: event.line, station: event.station, partId: event.partId, inspectedAt, users: [] }),
        );
      switch (event.kind) {
        case 'result':
          row.result = event;
          break;
        case 'claim':
          row.claimedBy = event.user;
          row.users.push(event.user);
          break;
        case 'decision':
          row.decision = {
            user: event.user,
            decision: event.decision,
            at: event.at,
            ...(event.category ? { category: event.category } : {}),
            ...(event.note ? { note: event.note } : {}),
          };
          row.users.push(event.user);
          if (event.category && row.category === undefined) row.category = event.category;
          break;
        case 'verdict':
          row.final = {
            verdict: event.verdict,
            decidedBy: event.decidedBy,
            at: event.at,
            ...(event.user ? { user: event.user } : {}),
            ...(event.category ? { category: event.category } : {}),
          };
          if (event.user) row.users.push(event.user);
          if (event.category) row.category = event.category;
          break;
        case 'expired':
          row.expired = true;
          break;
      }
    }
    const list = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
    const col = <T>(read: (row: PartRow) => T) => list.map(read);
    await client.query(
      `INSERT INTO log_parts AS p (line, station, part_id, inspected_at, has_result, model_verdict, score, pass_below, reject_above,
         model_id, model_version, reasons, detail, source, image, heatmap, expired, claimed_by, users, decision, final, final_verdict, decided_by, category)
       SELECT line, station, part_id, inspected_at, has_result, model_verdict, score, pass_below, reject_above, model_id, model_version,
         CASE WHEN reasons IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(reasons)) END,
         detail, source, image, heatmap, expired, claimed_by, ARRAY(SELECT jsonb_array_elements_text(users)), decision, final,
         final->>'verdict', final->>'decidedBy', category
       FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::boolean[], $6::text[], $7::float8[], $8::float8[], $9::float8[],
         $10::text[], $11::text[], $12::jsonb[], $13::text[], $14::text[], $15::text[], $16::text[], $17::boolean[], $18::text[], $19::jsonb[],
         $20::jsonb[], $21::jsonb[], $22::text[])
         AS u(line, station, part_id, inspected_at, has_result, model_verdict, score, pass_below, reject_above, model_id, model_version,
           reasons, detail, source, image, heatmap, expired, claimed_by, users, decision, final, category)
       ON CONFLICT (line, station, part_id, inspected_at) DO UPDATE SET
         has_result = p.has_result OR EXCLUDED.has_result,
         model_verdict = COALESCE(EXCLUDED.model_verdict, p.model_verdict),
         score = CASE WHEN EXCLUDED.has_result THEN EXCLUDED.score ELSE p.score END,
         pass_below = COALESCE(EXCLUDED.pass_below, p.pass_below),
         reject_above = COALESCE(EXCLUDED.reject_above, p.reject_above),
         model_id = COALESCE(EXCLUDED.model_id, p.model_id),
         model_version = COALESCE(EXCLUDED.model_version, p.model_version),
         reasons = COALESCE(EXCLUDED.reasons, p.reasons),
         detail = COALESCE(EXCLUDED.detail, p.detail),
         source = COALESCE(EXCLUDED.source, p.source),
         image = COALESCE(EXCLUDED.image, p.image),
         heatmap = COALESCE(EXCLUDED.heatmap, p.heatmap),
         expired = p.expired OR EXCLUDED.expired,
         claimed_by = COALESCE(EXCLUDED.claimed_by, p.claimed_by),
         users = ARRAY(SELECT DISTINCT unnest(p.users || EXCLUDED.users)),
         decision = COALESCE(EXCLUDED.decision, p.decision),
         final = COALESCE(EXCLUDED.final, p.final),
         final_verdict = COALESCE(EXCLUDED.final_verdict, p.final_verdict),
         decided_by = COALESCE(EXCLUDED.decided_by, p.decided_by),
         category = CASE WHEN EXCLUDED.final IS NOT NULL AND EXCLUDED.final ? 'category' THEN EXCLUDED.category ELSE COALESCE(p.category, EXCLUDED.category) END`,
      [
        col((r) => r.line),
        col((r) => r.station),
        col((r) => r.partId),
        col((r) => r.inspectedAt),
        col((r) => r.result !== undefined),
        col((r) => r.result?.verdict ?? null),
        col((r) => r.result?.score ?? null),
        col((r) => r.result?.thresholds.passBelow ?? null),
        col((r) => r.result?.thresholds.rejectAbove ?? null),
        col((r) => r.result?.model.id ?? null),
        col((r) => r.result?.model.version ?? null),
        col((r) => (r.result ? JSON.stringify(r.result.reasons) : null)),
        col((r) => r.result?.detail ?? null),
        col((r) => r.result?.source ?? null),
        col((r) => r.result?.image ?? null),
        col((r) => r.result?.heatmap ?? null),
        col((r) => r.expired ?? false),
        col((r) => r.claimedBy ?? null),
        col((r) => JSON.stringify(r.users)),
        col((r) => (r.decision ? JSON.stringify(r.decision) : null)),
        col((r) => (r.final ? JSON.stringify(r.final) : null)),
        col((r) => r.category ?? null),
      ],
    );
  }

  private async replaceTallies(client: pg.PoolClient, tallies: TallyEvent[]): Promise<void> {
    // The last tally of a station's minute in the batch wins, as it would one batch later.
    const rows = new Map<string, [string, string, string, string, number]>();
    for (const tally of tallies) {
      for (const [outcome, n] of Object.entries(tally.counts))
        rows.set(`${tally.line}|${tally.station}|${tally.minute}|${outcome}`, [
          tally.line,
          tally.station,
          tally.minute,
          outcome,
          n,
        ]);
    }
    if (rows.size === 0) return;
    const list = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
    await client.query(
      `INSERT INTO log_tallies (line, station, minute, outcome, n)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::int[])
       ON CONFLICT (line, station, minute, outcome) DO UPDATE SET n = EXCLUDED.n`,
      [
        list.map((r) => r[0]),
        list.map((r) => r[1]),
        list.map((r) => r[2]),
        list.map((r) => r[3]),
        list.map((r) => r[4]),
      ],
    );
  }

  // ---- the log's routes (LogSource) ----

  async page(filter: Filter, page: Page): Promise<Paged<Entry>> {
    const where = whereOf(filter);
    const [rows, total] = await Promise.all([
      this.pool.query<PartRecord>(
        `SELECT * FROM log_parts WHERE ${where.sql} ORDER BY inspected_at DESC, line, station, part_id LIMIT ${page.limit} OFFSET ${page.offset}`,
        where.values,
      ),
      this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM log_parts WHERE ${where.sql}`, where.values),
    ]);
    const n = Number(total.rows[0].n);
    const next = page.offset + rows.rows.length;
    return {
      total: n,
      offset: page.offset,
      limit: page.limit,
      nextOffset: next < n ? next : null,
      items: rows.rows.map(entryOf),
    };
  }

  async list(filter: Filter): Promise<readonly Entry[]> {
    const where = whereOf(filter);
    const rows = await this.pool.query<PartRecord>(
      `SELECT * FROM log_parts WHERE ${where.sql} ORDER BY inspected_at DESC, line, station, part_id`,
      where.values,
    );
    return rows.rows.map(entryOf);
  }

  async get(line: string, station: string, partId: string): Promise<Entry | undefined> {
    const found = await this.pool.query<PartRecord>(
      'SELECT * FROM log_parts WHERE line = $1 AND station = $2 AND part_id = $3 AND has_result ORDER BY inspected_at DESC LIMIT 1',
      [line, station, partId],
    );
    const row = found.rows[0];
    if (!row) return undefined;
    const events = await this.pool.query<{ body: LogEvent }>(
      'SELECT body FROM log_events WHERE line = $1 AND station = $2 AND part_id = $3 AND inspected_at = $4 ORDER BY at, event',
      [line, station, partId, row.inspected_at],
    );
    return { ...entryOf(row), timeline: events.rows.map((r) => r.body) };
  }

  async values(): Promise<KnownValues> {
    const column = async (sql: string) => (await this.pool.query<{ v: string }>(sql)).rows.map((r) => r.v);
    const [stations, categories, reasons, modelVersions, users] = await Promise.all([
      column('SELECT DISTINCT station AS v FROM log_parts ORDER BY 1'),
      column('SELECT DISTINCT category AS v FROM log_parts WHERE category IS NOT NULL ORDER BY 1'),
      column('SELECT DISTINCT unnest(reasons) AS v FROM log_parts ORDER BY 1'),
      column(
        "SELECT DISTINCT model_id || '@' || model_version AS v FROM log_parts WHERE model_id IS NOT NULL ORDER BY 1",
      ),
      column('SELECT DISTINCT unnest(users) AS v FROM log_parts ORDER BY 1'),
    ]);
    return { stations, categories, reasons, modelVersions, users };
  }

  async analytics(filter: Filter, shifts: Shift[]): Promise<Analytics> {
    const entries = await this.list(filter);
    const values: unknown[] = [];
    const terms = ['true'];
    for (const key of ['line', 'station'] as const) {
      if (filter[key] === undefined) continue;
      values.push(filter[key]);
      terms.push(`${key} = $${values.length}`);
    }
    if (filter.from) terms.push(`minute >= date_trunc('minute', $${values.push(filter.from)}::timestamptz)`);
    if (filter.to) terms.push(`minute < date_trunc('minute', $${values.push(filter.to)}::timestamptz)`);
    const tallies = await this.pool.query<{ line: string; station: string; minute: Date; outcome: string; n: number }>(
      `SELECT line, station, minute, outcome, n FROM log_tallies WHERE ${terms.join(' AND ')}`,
      values,
    );
    const counts: Count[] = tallies.rows.map((r) => ({
      line: r.line,
      station: r.station,
      minute: r.minute.getTime(),
      outcome: r.outcome as Outcome,
      n: r.n,
    }));
    return analyse(entries, counts, filter, shifts);
  }

  /** How many events and parts the store holds (tests and the benchmark). */
  async size(): Promise<{ events: number; parts: number }> {
    const found = await this.pool.query<{ events: string; parts: string }>(
      'SELECT (SELECT count(*) FROM log_events) AS events, (SELECT count(*) FROM log_parts WHERE has_result) AS parts',
    );
    return { events: Number(found.rows[0].events), parts: Number(found.rows[0].parts) };
  }
}

interface PartRecord {
  line: string;
  station: string;
  part_id: string;
  inspected_at: Date;
  model_verdict: Entry['modelVerdict'];
  score: number | null;
  pass_below: number;
  reject_above: number;
  model_id: string;
  model_version: string;
  reasons: string[];
  detail: string | null;
  source: string;
  image: string | null;
  heatmap: string | null;
  expired: boolean;
  claimed_by: string | null;
  decision: Entry['decision'];
  final: Entry['final'];
}

function entryOf(row: PartRecord): Entry {
  const entry: Entry = {
    line: row.line,
    station: row.station,
    partId: row.part_id,
    at: row.inspected_at.toISOString(),
    modelVerdict: row.model_verdict,
    score: row.score,
    thresholds: { passBelow: row.pass_below, rejectAbove: row.reject_above },
    model: { id: row.model_id, version: row.model_version },
    reasons: row.reasons,
    source: row.source,
    image: row.image ? { path: row.image, expired: row.expired } : null,
    heatmap: row.heatmap ? { path: row.heatmap, expired: row.expired } : null,
    claimedBy: row.claimed_by,
    decision: row.decision,
    final: row.final,
    timeline: [],
  };
  if (row.detail) entry.detail = row.detail;
  return entry;
}

/** The filter as a WHERE clause with numbered parameters: the same meaning as query.ts's `matches`. */
export function whereOf(filter: Filter): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const p = (value: unknown) => `$${values.push(value)}`;
  const terms = ['has_result'];
  if (filter.line) terms.push(`line = ${p(filter.line)}`);
  if (filter.station) terms.push(`station = ${p(filter.station)}`);
  if (filter.from) terms.push(`inspected_at >= ${p(filter.from)}`);
  if (filter.to) terms.push(`inspected_at < ${p(filter.to)}`);
  if (filter.verdict)
    terms.push(filter.verdict === 'open' ? 'final_verdict IS NULL' : `final_verdict = ${p(filter.verdict)}`);
  if (filter.decidedBy) terms.push(`decided_by = ${p(filter.decidedBy)}`);
  if (filter.category) terms.push(`category = ${p(filter.category)}`);
  if (filter.reason) terms.push(`reasons @> ARRAY[${p(filter.reason)}]::text[]`);
  if (filter.modelVersion) {
    const version = p(filter.modelVersion);
    terms.push(`(model_version = ${version} OR model_id || '@' || model_version = ${version})`);
  }
  if (filter.user) terms.push(`users @> ARRAY[${p(filter.user)}]::text[]`);
  return { sql: terms.join(' AND '), values };
}

/** The messages of one batch that are part events, for callers that count them. */
export const partEvents = (messages: readonly LogMessage[]) => messages.filter((m) => m.event.kind !== 'tally').length;

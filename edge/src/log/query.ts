/**
 * Questions a quality manager asks the log: the filters (one TypeBox schema, which also documents
 * them in the OpenAPI description), their checks, and the selection of entries. Pure: no I/O, no
 * clock. A filter that cannot be honoured is an error value naming the parameter and the reason,
 * never a silently wider answer.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DECIDERS, FINAL_VERDICTS } from '../../../contract/vocabulary.ts';
import type { Entry } from './entry.ts';

const ISO_PATTERN = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?)?$';
const ISO = new RegExp(ISO_PATTERN);
const Id = (description: string) => Type.String({ minLength: 1, maxLength: 128, description });
export const EntryVerdictSchema = Type.Union(
  [...FINAL_VERDICTS, 'open' as const].map((v) => Type.Literal(v)),
  { description: 'final verdict; open: the review is still waiting' },
);

export const FilterSchema = Type.Object(
  {
    line: Type.Optional(Id('production line id')),
    station: Type.Optional(Id('station id')),
    from: Type.Optional(
      Type.String({ pattern: ISO_PATTERN, description: 'ISO 8601 time; parts inspected at or after it' }),
    ),
    to: Type.Optional(Type.String({ pattern: ISO_PATTERN, description: 'ISO 8601 time; parts inspected before it' })),
    verdict: Type.Optional(EntryVerdictSchema),
    decidedBy: Type.Optional(
      Type.Union(
        DECIDERS.map((d) => Type.Literal(d)),
        { description: 'who gave the final verdict' },
      ),
    ),
    category: Type.Optional(Id('defect category chosen by the person who decided')),
    reason: Type.Optional(Id('a reason the part was not simply passed (borderline, audit, unreadable_image, ...)')),
    modelVersion: Type.Optional(Id('model version that scored the part: "<version>" or "<model id>@<version>"')),
    user: Type.Optional(Id('a person who claimed or decided the part')),
  },
  { additionalProperties: false },
);

export const PageSchema = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'entries per page, at most 1000' }),
    ),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'entries to skip (newest first)' })),
  },
  { additionalProperties: false },
);

export type Filter = Static<typeof FilterSchema>;
export type Page = { limit: number; offset: number };
export type Refusal = { ok: false; code: 'unknown_filter' | 'invalid_filter'; param: string; message: string };

function refuse(code: Refusal['code'], param: string, message: string): Refusal {
  return { ok: false, code, param, message: `${param}: ${message}` };
}

/**
 * Checks raw query parameters against the filters (and, when asked, paging), for callers other
 * than the HTTP routes (whose schemas check them). Times are normalised to UTC ISO, so comparisons
 * with stored times are plain string comparisons.
 */
export function parseFilter(
  query: Record<string, unknown>,
  options: { paging?: boolean; extra?: string[] } = {},
): { ok: true; filter: Filter; page: Page } | Refusal {
  const known = [
    ...Object.keys(FilterSchema.properties),
    ...(options.paging ? Object.keys(PageSchema.properties) : []),
    ...(options.extra ?? []),
  ];
  for (const [param, value] of Object.entries(query)) {
    if (!known.includes(param)) return refuse('unknown_filter', param, `unknown parameter; known: ${known.join(', ')}`);
    if (typeof value !== 'string') return refuse('invalid_filter', param, 'given more than once');
  }
  const raw: Record<string, string> = Object.fromEntries(
    Object.entries(query).filter(([param]) => param in FilterSchema.properties),
  ) as Record<string, string>;
  const error = Value.Errors(FilterSchema, raw).First();
  if (error) {
    const param = error.path.split('/')[1] ?? 'query';
    return refuse(
      'invalid_filter',
      param,
      `got "${raw[param]}"; ${error.schema.anyOf ? `allowed: ${(error.schema.anyOf as { const: string }[]).map((s) => s.const).join(', ')}` : error.message}`,
    );
  }
  const normalised = normaliseFilter(raw);
  if (!normalised.ok) return normalised;
  const filter = normalised.filter;
  const page: Page = { limit: 100, offset: 0 };
  for (const param of ['limit', 'offset'] as const) {
    const value = query[param];
    if (value === undefined) continue;
    const n = Number(value);
    const max = param === 'limit' ? 1000 : Number.MAX_SAFE_INTEGER;
    const min = param === 'limit' ? 1 : 0;
    if (!/^\d+$/.test(String(value)) || n < min || n > max)
      return refuse(
        'invalid_filter',
        param,
        `"${String(value)}" is not a whole number from ${min} to ${max === 1000 ? 1000 : 'any'}`,
      );
    page[param] = n;
  }
  return { ok: true, filter, page };
}

/**
 * A filter the route schema already checked, with its times normalised to UTC ISO; refused when a
 * time is not a real one (2026-13-45) or `from` comes after `to`.
 */
export function normaliseFilter(query: Filter): { ok: true; filter: Filter } | Refusal {
  const filter: Filter = { ...query };
  for (const param of ['from', 'to'] as const) {
    const value = query[param];
    if (value === undefined) continue;
    const time = Date.parse(value);
    if (!ISO.test(value) || Number.isNaN(time))
      return refuse('invalid_filter', param, `"${value}" is not an ISO 8601 time (e.g. 2026-11-25T06:00:00Z)`);
    filter[param] = new Date(time).toISOString();
  }
  if (filter.from && filter.to && filter.from > filter.to)
    return refuse('invalid_filter', 'from', `${filter.from} is after to ${filter.to}`);
  return { ok: true, filter };
}

/** The verdict an entry is filtered by: its final verdict, or open while its review waits. */
export const verdictOf = (entry: Entry) => entry.final?.verdict ?? 'open';

export function matches(entry: Entry, filter: Filter): boolean {
  if (filter.line && entry.line !== filter.line) return false;
  if (filter.station && entry.station !== filter.station) return false;
  if (filter.verdict && verdictOf(entry) !== filter.verdict) return false;
  if (filter.decidedBy && entry.final?.decidedBy !== filter.decidedBy) return false;
  if (filter.category && (entry.final?.category ?? entry.decision?.category) !== filter.category) return false;
  if (filter.reason && !entry.reasons.includes(filter.reason)) return false;
  if (
    filter.modelVersion &&
    entry.model.version !== filter.modelVersion &&
    `${entry.model.id}@${entry.model.version}` !== filter.modelVersion
  )
    return false;
  if (
    filter.user &&
    entry.decision?.user !== filter.user &&
    entry.final?.user !== filter.user &&
    !entry.timeline.some((e) => e.kind === 'claim' && e.user === filter.user)
  )
    return false;
  return true;
}

/** First index of an entry at or after `time` in entries ordered by time. */
function lowerBound(entries: readonly Entry[], time: string): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (entries[mid].at < time) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Entries matching the filter, newest first; `ordered` is oldest first (as the log keeps them). */
export function select(ordered: readonly Entry[], filter: Filter): Entry[] {
  const start = filter.from ? lowerBound(ordered, filter.from) : 0;
  const end = filter.to ? lowerBound(ordered, filter.to) : ordered.length;
  const out: Entry[] = [];
  for (let i = end - 1; i >= start; i--) if (matches(ordered[i], filter)) out.push(ordered[i]);
  return out;
}

export function paginate<T>(
  items: T[],
  page: Page,
): { total: number; offset: number; limit: number; nextOffset: number | null; items: T[] } {
  const slice = items.slice(page.offset, page.offset + page.limit);
  const next = page.offset + slice.length;
  return {
    total: items.length,
    offset: page.offset,
    limit: page.limit,
    nextOffset: next < items.length ? next : null,
    items: slice,
  };
}

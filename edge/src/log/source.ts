/**
 * What the defect log's routes ask of the storage behind them, so one set of routes serves both
 * back ends: an edge's embedded log (files, an in-memory index) and the plant's PostgreSQL. Every
 * method takes the same checked filter (query.ts) and answers entries as entry.ts folds them.
 */
import type { Shift } from '../../../config/schema.ts';
import { analyse, type Analytics } from './analytics.ts';
import type { DefectLog } from './defect-log.ts';
import type { Entry } from './entry.ts';
import { paginate, select, type Filter, type Page } from './query.ts';

export interface Paged<T> {
  total: number;
  offset: number;
  limit: number;
  nextOffset: number | null;
  items: T[];
}

export interface LogSource {
  /** one page of the entries matching the filter, newest first (entries of a page may lack their timeline) */
  page(filter: Filter, page: Page): Promise<Paged<Entry>>;
  /** every entry matching the filter, newest first (for CSV) */
  list(filter: Filter): Promise<readonly Entry[]>;
  /** a part's entry with its whole timeline */
  get(line: string, station: string, partId: string): Promise<Entry | undefined>;
  analytics(filter: Filter, shifts: Shift[]): Promise<Analytics>;
  /** every station, category, reason, model version and person the stored parts name, sorted (the manager's drop-downs) */
  values(): Promise<KnownValues>;
}

export type KnownValues = Record<'stations' | 'categories' | 'reasons' | 'modelVersions' | 'users', string[]>;

/** Every station, category, reason, model version and person the entries name, sorted. */
export function knownValues(entries: readonly Entry[]): KnownValues {
  const sets = {
    stations: new Set<string>(),
    categories: new Set<string>(),
    reasons: new Set<string>(),
    modelVersions: new Set<string>(),
    users: new Set<string>(),
  };
  for (const e of entries) {
    sets.stations.add(e.station);
    sets.modelVersions.add(`${e.model.id}@${e.model.version}`);
    for (const reason of e.reasons) sets.reasons.add(reason);
    const category = e.final?.category ?? e.decision?.category;
    if (category) sets.categories.add(category);
    for (const user of [e.decision?.user, e.final?.user, e.claimedBy]) if (user) sets.users.add(user);
  }
  const sorted = (set: Set<string>) => [...set].sort();
  return {
    stations: sorted(sets.stations),
    categories: sorted(sets.categories),
    reasons: sorted(sets.reasons),
    modelVersions: sorted(sets.modelVersions),
    users: sorted(sets.users),
  };
}

/** The edge's embedded log as a source: selection and analytics over its in-memory index. */
export function memorySource(log: Pick<DefectLog, 'all' | 'get' | 'countsBetween'>): LogSource {
  return {
    page: async (filter, page) => paginate(select(log.all(), filter), page),
    list: async (filter) => select(log.all(), filter),
    get: async (line, station, partId) => log.get(line, station, partId),
    analytics: async (filter, shifts) =>
      analyse(select(log.all(), filter), log.countsBetween(filter.from, filter.to), filter, shifts),
    values: async () => knownValues(log.all()),
  };
}

/**
 * The log as CSV (RFC 4180): a header row, ISO times, fields with commas, quotes or line breaks
 * quoted with their quotes doubled. Text people typed (notes, users, categories) that starts with
 * = + - @ is prefixed with ' so a spreadsheet shows it instead of running it as a formula.
 */
import type { Entry } from './entry.ts';
import { verdictOf } from './query.ts';

const COLUMNS: [string, (e: Entry) => string | number | null | undefined, 'text'?][] = [
  ['inspectedAt', (e) => e.at],
  ['line', (e) => e.line],
  ['station', (e) => e.station],
  ['partId', (e) => e.partId],
  ['score', (e) => e.score],
  ['passBelow', (e) => e.thresholds.passBelow],
  ['rejectAbove', (e) => e.thresholds.rejectAbove],
  ['modelId', (e) => e.model.id],
  ['modelVersion', (e) => e.model.version],
  ['reasons', (e) => e.reasons.join(' ')],
  ['detail', (e) => e.detail, 'text'],
  ['modelVerdict', (e) => e.modelVerdict],
  ['verdict', (e) => verdictOf(e)],
  ['decidedBy', (e) => e.final?.decidedBy],
  ['decidedAt', (e) => e.final?.at],
  ['user', (e) => e.decision?.user ?? e.final?.user, 'text'],
  ['category', (e) => e.final?.category ?? e.decision?.category, 'text'],
  ['note', (e) => e.decision?.note, 'text'],
  ['claimedBy', (e) => e.claimedBy, 'text'],
  ['image', (e) => e.image?.path],
  ['heatmap', (e) => e.heatmap?.path],
  ['imageExpired', (e) => (e.image ? String(e.image.expired) : '')],
];

export function csvField(value: string | number | null | undefined, text = false): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  if (text && /^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const csvHeader = () => `${COLUMNS.map(([name]) => name).join(',')}\r\n`;

export const csvRow = (entry: Entry) => `${COLUMNS.map(([, read, kind]) => csvField(read(entry), kind === 'text')).join(',')}\r\n`;

/** The rows in chunks, so a month of entries goes out without one long stall or one huge string. */
export function* csvChunks(entries: readonly Entry[], rowsPerChunk = 500): Generator<string> {
  yield csvHeader();
  for (let i = 0; i < entries.length; i += rowsPerChunk) yield entries.slice(i, i + rowsPerChunk).map(csvRow).join('');
}

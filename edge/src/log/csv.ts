/**
 * The log as CSV (RFC 4180): a header row, ISO times, fields with commas, quotes or line breaks
 * quoted with their quotes doubled. Text people typed (notes, users, categories) that starts with
 * = + - @ is prefixed with ' so a spreadsheet shows it instead of running it as a formula.
 * A manager opens a part from a row: `link` is its page in the defect log, `image` and `heatmap`
 * the URLs of its pictures (empty once retention deleted them), all on the dashboard that exported it.
 */
import type { Entry } from './entry.ts';
import { verdictOf } from './query.ts';

const part = (e: Entry) => `${e.line}/${e.station}/${encodeURIComponent(e.partId)}`;

const COLUMNS: [string, (e: Entry, origin: string) => string | number | null | undefined, 'text'?][] = [
  ['inspectedAt', (e) => e.at],
  ['line', (e) => e.line],
  ['station', (e) => e.station],
  ['partId', (e) => e.partId],
  ['link', (e, origin) => `${origin}/log#part=${encodeURIComponent(`${e.line}/${e.station}/${e.partId}`)}`],
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
  ['image', (e, origin) => (e.image && !e.image.expired ? `${origin}/api/parts/${part(e)}/image` : '')],
  ['heatmap', (e, origin) => (e.heatmap && !e.heatmap.expired ? `${origin}/api/parts/${part(e)}/heatmap` : '')],
  ['imageExpired', (e) => (e.image ? String(e.image.expired) : '')],
];

export function csvField(value: string | number | null | undefined, text = false): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  if (text && /^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const csvHeader = () => `${COLUMNS.map(([name]) => name).join(',')}\r\n`;

export const csvRow = (entry: Entry, origin: string) =>
  `${COLUMNS.map(([, read, kind]) => csvField(read(entry, origin), kind === 'text')).join(',')}\r\n`;

/**
 * The rows in chunks, so a month of entries goes out without one long stall or one huge string.
 * `origin` (`http://host:port`) is the dashboard's address as the manager's browser used it.
 */
export function* csvChunks(entries: readonly Entry[], origin: string, rowsPerChunk = 500): Generator<string> {
  yield csvHeader();
  for (let i = 0; i < entries.length; i += rowsPerChunk)
    yield entries
      .slice(i, i + rowsPerChunk)
      .map((e) => csvRow(e, origin))
      .join('');
}

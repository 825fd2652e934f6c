import { beforeAll, describe, expect, it } from 'vitest';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import { analyse, shiftOf } from '../../edge/src/log/analytics.ts';
import { parseFilter, select } from '../../edge/src/log/query.ts';
import { csvField, csvChunks } from '../../edge/src/log/csv.ts';
import { result } from './fixtures.ts';
import { tempDir } from '../support/temp.ts';

const shifts = [
  { name: 'early', start: '06:00' },
  { name: 'late', start: '14:00' },
  { name: 'night', start: '22:00' },
];
/** Local times, so the shift arithmetic holds in any time zone the tests run in. */
const local = (day: number, hour: number, minute = 0) => new Date(2026, 10, day, hour, minute).toISOString();

/**
 * A small log, hand-countable. Thresholds 2 / 10: midpoint 6.
 * Early shift of the 25th, 07:xx:   10 parts: 6 auto-pass, 1 auto-reject, 3 reviews
 *   r1 score 8 (leans reject) accepted by ana  → override
 *   r2 score 4 (leans accept) rejected by ana, scratch → override
 *   r3 score 9 (leans reject) rejected by bo, dent → agrees
 * Late shift, 15:xx:                 4 parts: 2 auto-pass, 2 reviews
 *   r4 score 3 (leans accept) accepted by bo → agrees
 *   r5 unreadable (no score), timeout → reject (uncategorised); no leaning
 * Night shift, 01:xx on the 26th (belongs to the night of the 25th): 1 audit part, score 1, rejected, scratch → override
 */
async function smallLog() {
  const log = await DefectLog.open(await tempDir('loupe-analytics-'), { flushMs: 5 });
  const verdict = (
    partId: string,
    at: string,
    v: 'pass' | 'reject' | 'hold',
    decidedBy: 'model' | 'human' | 'timeout',
    extra: object = {},
  ) => log.verdict({ line: 'line-1', station: 'cam-1', partId, verdict: v, decidedBy, at, ...extra });
  const auto = (partId: string, at: string, v: 'pass' | 'reject') => {
    log.result(result(partId, at, { verdict: v, score: v === 'pass' ? 1 : 12 }));
    verdict(partId, at, v, 'model');
  };
  const review = (
    partId: string,
    at: string,
    score: number | null,
    decision: 'accept' | 'reject' | null,
    user?: string,
    category?: string,
    reasons: string[] = ['borderline'],
  ) => {
    log.result(result(partId, at, { score, reasons: reasons as never }));
    if (decision && user) {
      log.decision('line-1', 'cam-1', { partId, user, decision, ...(category ? { category } : {}) }, at);
      verdict(partId, at, decision === 'accept' ? 'pass' : 'reject', 'human', {
        user,
        ...(category ? { category } : {}),
      });
    } else verdict(partId, at, 'reject', 'timeout');
  };
  for (let i = 0; i < 6; i++) auto(`e-pass-${i}`, local(25, 7, i), 'pass');
  auto('e-reject', local(25, 7, 10), 'reject');
  review('r1', local(25, 7, 20), 8, 'accept', 'ana');
  review('r2', local(25, 7, 21), 4, 'reject', 'ana', 'scratch');
  review('r3', local(25, 7, 22), 9, 'reject', 'bo', 'dent');
  auto('l-pass-0', local(25, 15, 0), 'pass');
  auto('l-pass-1', local(25, 15, 1), 'pass');
  review('r4', local(25, 15, 5), 3, 'accept', 'bo');
  review('r5', local(25, 15, 6), null, null, undefined, undefined, ['unreadable_image']);
  review('a1', local(26, 1, 0), 1, 'reject', 'ana', 'scratch', ['audit']);
  return log;
}

describe('analytics of a hand-counted log', () => {
  let log: DefectLog;
  beforeAll(async () => {
    log = await smallLog();
  });

  it('counts yield, review rate and override rate per shift and in total', () => {
    const analytics = analyse(select(log.all(), {}), log.countsBetween(), {}, shifts);
    expect(analytics.basis).toBe('counts');
    // 15 parts; passes: 6 + 1 (r1) + 2 + 1 (r4) = 10; reviews 3 + 2 + 1 = 6; human decisions on scored parts 5, overrides r1, r2, a1
    expect(analytics.totals).toEqual({
      inspected: 15,
      finals: 15,
      passed: 10,
      yield: 10 / 15,
      reviews: 6,
      reviewRate: 6 / 15,
      humanDecisions: 5,
      overrides: 3,
      overrideRate: 3 / 5,
    });
    expect(
      analytics.shifts.map((s) => [s.date, s.shift, s.inspected, s.passed, s.yield, s.reviewRate, s.overrideRate]),
    ).toEqual([
      ['2026-11-25', 'early', 10, 7, 0.7, 0.3, 2 / 3],
      ['2026-11-25', 'late', 4, 3, 0.75, 0.5, 0],
      ['2026-11-25', 'night', 1, 0, 0, 1, 1],
    ]);
    expect(analytics.shifts[0].start).toBe(local(25, 6));
    expect(analytics.hours.map((h) => [h.start, h.inspected])).toEqual([
      [local(25, 7), 10],
      [local(25, 15), 4],
      [local(26, 1), 1],
    ]);
  });

  it('ranks rejected parts by defect category with the cumulative share', () => {
    const { pareto } = analyse(select(log.all(), {}), log.countsBetween(), {}, shifts);
    // rejects: e-reject (model), r2 scratch, r3 dent, r5 (timeout), a1 scratch
    expect(pareto).toEqual([
      { category: 'scratch', count: 2, share: 0.4, cumulativeShare: 0.4 },
      { category: 'uncategorised', count: 2, share: 0.4, cumulativeShare: 0.8 },
      { category: 'dent', count: 1, share: 0.2, cumulativeShare: 1 },
    ]);
  });

  it('answers from the stored entries when a filter the counts cannot split is given', () => {
    const parsed = parseFilter({ user: 'ana' });
    if (!parsed.ok) throw new Error(parsed.message);
    const analytics = analyse(select(log.all(), parsed.filter), log.countsBetween(), parsed.filter, shifts);
    expect(analytics.basis).toBe('entries');
    expect(analytics.totals).toMatchObject({ inspected: 3, finals: 3, passed: 1, humanDecisions: 3, overrides: 3 });
  });

  it('limits the counts and entries to the time range, to the minute', () => {
    const parsed = parseFilter({ from: local(25, 14), to: local(25, 22) });
    if (!parsed.ok) throw new Error(parsed.message);
    const analytics = analyse(
      select(log.all(), parsed.filter),
      log.countsBetween(parsed.filter.from, parsed.filter.to),
      parsed.filter,
      shifts,
    );
    expect(analytics.totals).toMatchObject({ inspected: 4, passed: 3, reviews: 2 });
  });

  it('puts the hours after midnight into the night shift that started the day before', () => {
    expect(shiftOf(Date.parse(local(26, 5, 59)), shifts)).toEqual({
      shift: 'night',
      date: '2026-11-25',
      start: local(25, 22),
    });
    expect(shiftOf(Date.parse(local(26, 6, 0)), shifts)).toMatchObject({ shift: 'early', date: '2026-11-26' });
  });
});

describe('log filters', () => {
  it('selects by verdict, category, model version and user, newest first', async () => {
    const log = await smallLog();
    const pick = (query: Record<string, string>) => {
      const parsed = parseFilter(query);
      if (!parsed.ok) throw new Error(parsed.message);
      return select(log.all(), parsed.filter).map((e) => e.partId);
    };
    expect(pick({ verdict: 'reject', category: 'scratch' })).toEqual(['a1', 'r2']);
    expect(pick({ decidedBy: 'timeout' })).toEqual(['r5']);
    expect(pick({ user: 'bo' })).toEqual(['r4', 'r3']);
    expect(pick({ modelVersion: 'bracket@3', reason: 'audit' })).toEqual(['a1']);
    expect(pick({ modelVersion: '4' })).toEqual([]);
  });

  it('refuses unknown filters, bad values and inverted ranges, naming the parameter', () => {
    expect(parseFilter({ colour: 'red' })).toMatchObject({ ok: false, code: 'unknown_filter', param: 'colour' });
    expect(parseFilter({ verdict: 'maybe' })).toMatchObject({
      ok: false,
      code: 'invalid_filter',
      param: 'verdict',
      message: 'verdict: got "maybe"; allowed: pass, reject, hold, open',
    });
    expect(parseFilter({ from: 'yesterday' })).toMatchObject({ ok: false, param: 'from' });
    expect(parseFilter({ from: '2026-11-25T10:00:00Z', to: '2026-11-25T09:00:00Z' })).toMatchObject({
      ok: false,
      param: 'from',
      message: expect.stringContaining('after to'),
    });
    expect(parseFilter({ limit: '5000' }, { paging: true })).toMatchObject({ ok: false, param: 'limit' });
    expect(parseFilter({ limit: '50', offset: '10', from: '2026-11-25T10:00:00+01:00' }, { paging: true })).toEqual({
      ok: true,
      filter: { from: '2026-11-25T09:00:00.000Z' },
      page: { limit: 50, offset: 10 },
    });
  });
});

describe('CSV export', () => {
  it('quotes commas, quotes and line breaks, and keeps formulas people typed from running', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "no"')).toBe('"say ""no"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")', true)).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField(-1.5)).toBe('-1.5');
    expect(csvField(null)).toBe('');
  });

  it('writes a header and one row per entry with ISO times', async () => {
    const log = await DefectLog.open(await tempDir('loupe-csv-'), { flushMs: 5 });
    log.result(result('p-1', '2026-11-25T07:00:00.000Z', { score: 4.5 }), { image: 'line-1/cam-1/p-1.img' });
    log.decision(
      'line-1',
      'cam-1',
      { partId: 'p-1', user: 'ana', decision: 'reject', category: 'dent', note: 'edge, near "hole 2"\nsecond look' },
      '2026-11-25T07:01:00.000Z',
    );
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-1',
      verdict: 'reject',
      decidedBy: 'human',
      user: 'ana',
      category: 'dent',
      at: '2026-11-25T07:01:00.000Z',
    });
    const csv = [...csvChunks(log.all(), 'http://line-pc:8080')].join('');
    const [header, ...rest] = csv.split('\r\n');
    expect(header).toBe(
      'inspectedAt,line,station,partId,link,score,passBelow,rejectAbove,modelId,modelVersion,reasons,detail,modelVerdict,verdict,decidedBy,decidedAt,user,category,note,claimedBy,image,heatmap,imageExpired',
    );
    // links a manager can open from a spreadsheet, never the evidence store's internal references
    expect(rest.join('\r\n')).toBe(
      '2026-11-25T07:00:00.000Z,line-1,cam-1,p-1,http://line-pc:8080/log#part=line-1%2Fcam-1%2Fp-1,4.5,2,10,bracket,3,borderline,,review,reject,human,2026-11-25T07:01:00.000Z,ana,dent,"edge, near ""hole 2""\nsecond look",,http://line-pc:8080/api/parts/line-1/cam-1/p-1/image,,false\r\n',
    );
    await log.close();
  });
});

describe('a corrected decision', () => {
  it('is counted once, under its corrected outcome, and the entry shows both decisions', async () => {
    const log = await DefectLog.open(await tempDir('loupe-correction-'), { flushMs: 5 });
    const at = local(25, 7, 10);
    const later = local(25, 7, 12);
    log.result(result('p-9', at, { score: 5 }));
    log.decision('line-1', 'cam-1', { partId: 'p-9', user: 'ana', decision: 'accept' }, at);
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-9',
      verdict: 'pass',
      decidedBy: 'human',
      user: 'ana',
      at,
    });
    log.decision(
      'line-1',
      'cam-1',
      { partId: 'p-9', user: 'ana', decision: 'reject', category: 'dent', correction: true },
      later,
    );
    log.verdict({
      line: 'line-1',
      station: 'cam-1',
      partId: 'p-9',
      verdict: 'reject',
      decidedBy: 'human',
      user: 'ana',
      category: 'dent',
      at: later,
      corrects: { verdict: 'pass', decidedBy: 'human', user: 'ana', at },
    });
    const counts = log.countsBetween().filter((c) => c.outcome !== 'review/model');
    expect(counts).toEqual([
      {
        minute: Date.parse(at) - (Date.parse(at) % 60_000),
        line: 'line-1',
        station: 'cam-1',
        outcome: 'reject/human',
        n: 1,
      },
    ]);
    expect(log.get('line-1', 'cam-1', 'p-9')).toMatchObject({
      final: { verdict: 'reject', category: 'dent' },
      decision: { decision: 'reject' },
    });
    expect(log.get('line-1', 'cam-1', 'p-9')?.timeline.map((e) => e.kind)).toEqual([
      'result',
      'decision',
      'verdict',
      'decision',
      'verdict',
    ]);
    await log.close();
  });
});

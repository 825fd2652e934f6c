/**
 * Where two people disagreed, the answer a manager settled is what Loupe learns from (calibration,
 * refit, export, the what-if), and both the second opinion and the settlement are in the part's
 * timeline in the defect log.
 */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../config/load.ts';
import { LogSchema } from '../../contract/payloads.ts';
import { checkPayload } from '../../contract/validate.ts';
import calibrate from '../../cli/calibrate.ts';
import { openStation } from '../../cli/station-state.ts';
import { DefectLog } from '../../edge/src/log/defect-log.ts';
import type { Closing } from '../../edge/src/review/book.ts';
import { SecondOpinions } from '../../edge/src/review/second.ts';
import { FileReviewStore } from '../../edge/src/review/store.ts';
import { writeConfig } from '../support/loupe.ts';
import { tempDir } from '../support/temp.ts';
import { result } from '../log/fixtures.ts';

const at = Date.parse('2026-12-04T10:00:00Z');
const closing = (partId: string, verdict: 'pass' | 'reject', score: number, category?: string): Closing => ({
  partId,
  score,
  verdict,
  decidedBy: 'human',
  user: 'ana',
  at,
  ...(category ? { category } : {}),
});

describe('the settled answer', () => {
  afterEach(() => vi.restoreAllMocks());

  it('is what loupe calibrate, fit and export learn from; a part still in dispute teaches nothing', async () => {
    const dir = await tempDir('loupe-settled-');
    const dataDir = path.join(dir, 'data');
    const { file } = await writeConfig(
      {
        line: 'line-s',
        dataDir,
        stations: [{ id: 'cam-s', thresholds: { passBelow: 1, rejectAbove: 40 }, review: { secondOpinionShare: 1 } }],
      },
      dir,
    );
    const stateDir = path.join(dataDir, 'reviews', 'line-s', 'cam-s');
    const reviews = new FileReviewStore(stateDir);
    const second = new SecondOpinions(stateDir, 1);
    for (let i = 0; i < 25; i++) reviews.closed(closing(`G${i}`, 'pass', 1 + i * 0.02));
    for (let i = 0; i < 5; i++) reviews.closed(closing(`D${i}`, 'reject', 10 + i, 'scratch'));
    // ana accepted a faint defect at 2: bo rejects it blind, and the manager settles it as a dent.
    const faint = closing('FAINT', 'pass', 2);
    reviews.closed(faint);
    second.consider(faint, 0);
    second.give('FAINT', { user: 'bo', verdict: 'reject', category: 'scratch', at });
    second.settle('FAINT', { user: 'maya', verdict: 'reject', category: 'dent', at });
    // ana rejected a good part at 3; bo accepts it; nobody has settled it yet.
    const torn = closing('TORN', 'reject', 3, 'scratch');
    reviews.closed(torn);
    second.consider(torn, 0);
    second.give('TORN', { user: 'bo', verdict: 'pass', at });
    reviews.close();

    const station = await openStation(await loadConfig(file), 'cam-s');
    const learnt = station.learnable(30);
    station.reviews.close();
    expect(learnt.find((c) => c.partId === 'FAINT')).toMatchObject({ verdict: 'reject', category: 'dent' });
    expect(learnt.find((c) => c.partId === 'TORN')).toBeUndefined();
    expect(learnt).toHaveLength(31);

    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    expect(await calibrate(['--config', file, '--json'])).toBe(0);
    const proposal = JSON.parse(printed[0]);
    // Six rejections (the settled one among them), and passBelow under the faint defect at 2.
    expect(proposal).toMatchObject({ ok: true, rejected: 6, accepted: 25 });
    expect(proposal.thresholds.passBelow).toBeLessThan(2);
  });

  it("puts the second opinion and the settlement in the part's timeline, by the log's schema", async () => {
    const log = await DefectLog.open(await tempDir('loupe-settled-log-'));
    log.result(result('P-1', '2026-12-04T10:00:00.000Z'));
    const second = new SecondOpinions(null, 1);
    second.told = (fact) => log.secondOpinion('line-1', 'cam-1', fact);
    second.consider({ partId: 'P-1', score: 5, verdict: 'pass', decidedBy: 'human', user: 'ana', at }, 0);
    second.give('P-1', { user: 'bo', verdict: 'reject', category: 'crack', at: at + 1000 });
    second.settle('P-1', { user: 'maya', verdict: 'reject', category: 'crack', at: at + 2000 });
    const timeline = log.get('line-1', 'cam-1', 'P-1')?.timeline ?? [];
    expect(timeline.map((e) => e.kind)).toEqual(['result', 'opinion', 'settled']);
    expect(timeline[1]).toMatchObject({ user: 'bo', decision: 'reject', category: 'crack', agrees: false });
    expect(timeline[2]).toMatchObject({
      user: 'maya',
      decision: 'reject',
      category: 'crack',
      at: '2026-12-04T10:00:02.000Z',
    });
    for (const event of timeline) expect(checkPayload(LogSchema, { schema: 'loupe/log@1', event }).ok).toBe(true);
    await log.close();
    // and they are still there when the log is opened again
    const again = await DefectLog.open(log.dir);
    expect(again.get('line-1', 'cam-1', 'P-1')?.timeline.map((e) => e.kind)).toEqual(['result', 'opinion', 'settled']);
    await again.close();
  });
});

/**
 * What a station tells the plant: every event its defect log records (with the time of the part's
 * result, which is how the plant files it), and per-minute tallies of every inspection (plain
 * auto-passes are counted, not stored, so the plant's yield and review rate need them). Tallies go
 * out once their minute has closed, read back from the log's own counts: a tally is the minute's
 * whole count, so a second one (after a restart, or a late verdict) replaces the first rather than
 * adding to it. The send function is the station's outbox: nothing is lost while the plant is away.
 */
import type { LogMessage } from '../../../contract/payloads.ts';
import type { DefectLog } from './defect-log.ts';
import type { Count } from './minute-counts.ts';
import type { Entry, LogEvent } from './entry.ts';

export type Send = (line: string, station: string, message: LogMessage) => void;

const MINUTE = 60_000;

export class PlantFeed {
  /** "line|station" → start of each minute counted since its last tally (ms since the epoch) */
  private readonly dirty = new Map<string, Set<number>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Pick<DefectLog, 'countsBetween'>,
    private readonly send: Send,
    private readonly now: () => number = Date.now,
  ) {}

  recorded(event: LogEvent, entry: Entry): void {
    this.send(event.line, event.station, { schema: 'loupe/log@1', inspectedAt: entry.at, event });
  }

  counted(at: string, line: string, station: string): void {
    const key = `${line}|${station}`;
    let minutes = this.dirty.get(key);
    if (!minutes) this.dirty.set(key, (minutes = new Set()));
    minutes.add(Math.floor(Date.parse(at) / MINUTE) * MINUTE);
  }

  /** Sends the tally of every counted minute that has closed (every one, when `all`). */
  tick(all = false): void {
    const closedBefore = Math.floor(this.now() / MINUTE) * MINUTE;
    for (const [key, minutes] of this.dirty) {
      const [line, station] = key.split('|');
      for (const minute of minutes) {
        if (!all && minute >= closedBefore) continue;
        minutes.delete(minute);
        const counts: Record<string, number> = {};
        const inMinute = this.log.countsBetween(
          new Date(minute).toISOString(),
          new Date(minute + MINUTE).toISOString(),
        );
        for (const count of inMinute as Count[])
          if (count.line === line && count.station === station)
            counts[count.outcome] = (counts[count.outcome] ?? 0) + count.n;
        this.send(line, station, {
          schema: 'loupe/log@1',
          event: { kind: 'tally', line, station, minute: new Date(minute).toISOString(), counts },
        });
      }
      if (minutes.size === 0) this.dirty.delete(key);
    }
  }

  start(everyMs = 5000): void {
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  /** Sends what has been counted so far, the current minute included (a later tally replaces it). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tick(true);
  }
}

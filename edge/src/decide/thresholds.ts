/**
 * The thresholds in force at a station, versioned: each approved change is a new version with who
 * approved it, when, and what it rested on. Kept in a small lowdb file beside the review state.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LowSync } from 'lowdb';
import { jsonDocument } from '../../../shared/json-document.ts';
import type { Thresholds } from '../../../config/schema.ts';

export interface ThresholdVersion extends Thresholds {
  version: number;
  approvedBy: string;
  at: string;
  basis?: string;
}

export class ThresholdHistory {
  private readonly db: LowSync<{ versions: ThresholdVersion[] }>;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.db = jsonDocument(
      path.join(dir, 'thresholds.json'),
      { versions: [] as ThresholdVersion[] },
      'approved thresholds (the configured ones apply until a new approval)',
    );
  }

  get current(): ThresholdVersion | null {
    return this.db.data.versions.at(-1) ?? null;
  }

  get versions(): ThresholdVersion[] {
    return [...this.db.data.versions];
  }

  approve(thresholds: Thresholds, approvedBy: string, basis?: string): ThresholdVersion {
    if (!(thresholds.passBelow <= thresholds.rejectAbove))
      throw new Error(`passBelow ${thresholds.passBelow} must not exceed rejectAbove ${thresholds.rejectAbove}`);
    const version: ThresholdVersion = {
      version: (this.current?.version ?? 0) + 1,
      ...thresholds,
      approvedBy,
      at: new Date().toISOString(),
      ...(basis ? { basis } : {}),
    };
    this.db.data.versions.push(version);
    this.db.write();
    return version;
  }
}

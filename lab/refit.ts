/**
 * Refit from decisions: parts people accepted join the good set and a new model version is fitted;
 * its manifest records what it came from.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadManifest } from '../edge/src/vision/manifest.ts';
import { listImages } from './dataset.ts';
import type { DecidedPart } from './decided.ts';
import { fit, type FitMethod, type FitReport } from './fit.ts';
import { METHODS_BY_COST, type Method } from './method.ts';

export async function refitFromDecisions(options: {
  parent: string;
  parts: DecidedPart[];
  goodData?: string;
  out: string;
  method?: FitMethod;
}): Promise<FitReport> {
  const parent = await loadManifest(options.parent);
  const accepted = options.parts.filter((p) => p.verdict === 'pass');
  const work = await mkdtemp(path.join(os.tmpdir(), 'loupe-refit-'));
  try {
    const good = path.join(work, 'train', 'good');
    await mkdir(good, { recursive: true });
    const earlier = options.goodData ? await listImages(path.join(options.goodData, 'train', 'good')) : [];
    for (const file of earlier) await cp(file, path.join(good, `base-${path.basename(file)}`));
    for (const part of accepted)
      await writeFile(path.join(good, `accepted-${part.partId}.img.png`), await part.image());
    if (earlier.length + accepted.length < 3)
      throw new Error(
        `refit needs at least 3 good images; has ${earlier.length} from --data and ${accepted.length} accepted parts`,
      );
    const version = String(
      Number.isFinite(Number(parent.version)) ? Number(parent.version) + 1 : `${parent.version}.1`,
    );
    // A new version keeps its parent's method unless asked otherwise.
    const named = String(parent.fittedOn?.method ?? '').split(':')[0];
    const parentMethod = (METHODS_BY_COST as string[]).includes(named) ? (named as Method) : 'aligned';
    const report = await fit({
      data: work,
      out: options.out,
      id: parent.id,
      version,
      method: options.method ?? parentMethod,
    });
    report.manifest.lineage = {
      parent: `${parent.id}@${parent.version}`,
      acceptedParts: accepted.length,
      baseImages: earlier.length,
      refittedAt: new Date().toISOString(),
    };
    await writeFile(path.join(options.out, 'manifest.json'), `${JSON.stringify(report.manifest, null, 2)}\n`);
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

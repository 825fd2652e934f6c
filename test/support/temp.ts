/**
 * Temporary folders for tests, removed once the test file's tests are done (`test/support/setup.ts`).
 * Left behind, every `npm test` added ~50 folders and ~50 MB to the system's temporary folder.
 */
import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

/** A new empty folder under the system's temporary folder, its name starting with `prefix`. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function tempDirSync(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes the folders this test file made. A folder that will not go is reported, not failed on. */
export async function removeTempDirs(): Promise<void> {
  for (const dir of made.splice(0)) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((error: unknown) =>
      console.warn(`test clean-up: could not remove ${dir}: ${(error as Error).message}`),
    );
  }
}

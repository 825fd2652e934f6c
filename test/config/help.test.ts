/** `loupe --help` lists every option and environment variable the README and each command document. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runLoupe } from '../support/loupe.ts';

/** Options the README shows for other programs (curl, node, perf, tsc), not loupe's. */
const NOT_LOUPE = new Set(['--data-binary', '--max-semi-space-size', '--per-thread', '--noEmit']);
/** Where each command spells its own options (start, edge and dashboard share cli/options.ts). */
const COMMAND_FILES = ['options', 'synth', 'fit', 'eval', 'calibrate', 'export', 'simulate', 'bench', 'people'].map(
  (name) => path.join(repoRoot, 'cli', `${name}.ts`),
);

const optionsIn = (text: string) =>
  new Set([...text.matchAll(/--[a-zA-Z][a-zA-Z-]*/g)].map((m) => m[0]).filter((o) => !NOT_LOUPE.has(o)));

describe('loupe --help', () => {
  it("lists every option and environment variable of the README and of each command's own help", async () => {
    const help = await runLoupe(['--help']);
    expect(help.code).toBe(0);
    const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
    for (const option of optionsIn(readme)) expect(help.stdout, `README's ${option}`).toContain(option);
    for (const name of new Set(readme.match(/LOUPE_[A-Z_]+/g))) expect(help.stdout, `README's ${name}`).toContain(name);
    // each command's own help text, read from its source (spawning ten processes is too slow for a test)
    for (const file of COMMAND_FILES) {
      for (const option of optionsIn(await readFile(file, 'utf8')))
        expect(help.stdout, `${path.basename(file)}'s ${option}`).toContain(option);
    }
  }, 60_000);
});

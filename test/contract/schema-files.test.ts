import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { schemaFiles } from '../../contract/generate.ts';

describe('schema files in the repo', () => {
  it('are exactly the schemas the code validates against (run `npm run schemas` after a change)', async () => {
    for (const [file, expected] of schemaFiles()) {
      expect(await readFile(file, 'utf8'), file).toBe(expected);
    }
  });
});

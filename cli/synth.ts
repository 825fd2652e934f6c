import { parseArgs } from 'node:util';
import { writeSyntheticDataset } from '../lab/dataset.ts';
import { CATEGORIES, isCategory, type Category } from '../lab/synth.ts';

export default async function synth(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      count: { type: 'string', default: '200' },
      category: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.out) {
    console.log(
      `Usage: loupe synth --out DIR [--seed S] [--count N] [--category ${Object.keys(CATEGORIES).join('|')}]...\n\nWrites CATEGORY/train/good (N parts), CATEGORY/test/good and CATEGORY/test/<defect> (N/4 each) and\nCATEGORY/ground_truth/<defect>/NNN_mask.png, in the MVTec AD layout; the same seed writes the same files.`,
    );
    return values.help ? 0 : 2;
  }
  const seed = Number(values.seed);
  const count = Number(values.count);
  if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 1) {
    console.error('loupe synth: --seed and --count must be integers, --count at least 1');
    return 2;
  }
  const categories = values.category ?? Object.keys(CATEGORIES);
  const unknown = categories.filter((c) => !isCategory(c));
  if (unknown.length > 0) {
    console.error(
      `loupe synth: unknown category ${unknown.join(', ')}; categories: ${Object.keys(CATEGORIES).join(', ')}`,
    );
    return 2;
  }
  for (const row of await writeSyntheticDataset({
    out: values.out,
    seed,
    count,
    categories: categories as Category[],
  })) {
    console.log(`${row.category}: ${row.train} train, ${row.test} test images`);
  }
  return 0;
}

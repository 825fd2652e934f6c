import { parseArgs } from 'node:util';
import { evaluate } from '../lab/evaluate.ts';

export default async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || !values.model || !values.data) {
    console.log('Usage: loupe eval --model models/NAME --data DIR/CATEGORY [--json]');
    return values.help ? 0 : 2;
  }
  const e = await evaluate(values.model, values.data);
  if (values.json) {
    console.log(JSON.stringify(e));
    return 0;
  }
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  console.log(`image AUROC              ${e.imageAuroc.toFixed(4)}`);
  console.log(`pixel AUROC              ${e.pixelAuroc === null ? 'n/a (no masks or no map)' : e.pixelAuroc.toFixed(4)}`);
  for (const [defect, value] of Object.entries(e.perDefect)) console.log(`  ${defect.padEnd(22)} ${value.toFixed(4)}`);
  console.log(`auto-pass at zero escape ${pct(e.autoPassAtZeroEscape)} of good parts`);
  console.log(`inference                ${e.inferenceMsPerImage.toFixed(2)} ms per image (decode + preprocess ${e.decodeMsPerImage.toFixed(2)} ms)`);
  return 0;
}

import { parseArgs } from 'node:util';
import { evaluate, type Evaluation } from '../lab/evaluate.ts';
import { DatasetLayoutError } from '../lab/dataset.ts';
import { ModelLoadError } from '../edge/src/vision/manifest.ts';

export default async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.model || !values.data) {
    console.log('Usage: loupe eval --model models/NAME --data DIR/CATEGORY [--json]');
    return values.help ? 0 : 2;
  }
  let e: Evaluation;
  try {
    e = await evaluate(values.model, values.data);
  } catch (error) {
    // A wrong folder is the user's to fix, not a crash: say what is expected, without a stack trace.
    if (!(
      error instanceof DatasetLayoutError ||
      error instanceof ModelLoadError ||
      (error as NodeJS.ErrnoException).code === 'ENOENT'
    ))
      throw error;
    console.error(`loupe eval: ${(error as Error).message}`);
    return 2;
  }
  if (values.json) {
    console.log(JSON.stringify(e));
    return 0;
  }
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  console.log(`image AUROC              ${e.imageAuroc.toFixed(4)}`);
  console.log(
    `pixel AUROC              ${e.pixelAuroc === null ? `n/a (${e.pixelNote ?? 'the model gives no anomaly map'})` : `${e.pixelAuroc.toFixed(4)}${e.pixelNote ? ` (${e.pixelNote})` : ''}`}`,
  );
  for (const [defect, value] of Object.entries(e.perDefect)) console.log(`  ${defect.padEnd(22)} ${value.toFixed(4)}`);
  console.log(`auto-pass at zero escape ${pct(e.autoPassAtZeroEscape)} of good parts`);
  const t = e.atThresholds;
  const of = (n: number) => `${n} (${pct(n / e.images)})`;
  console.log(
    `at the model's thresholds (passBelow ${t.thresholds.passBelow}, rejectAbove ${t.thresholds.rejectAbove}):`,
  );
  console.log(
    `  pass ${of(t.pass)}, review ${of(t.review)}, reject ${of(t.reject)} of ${e.images} images; ${t.defectsPassed} defective passed, ${t.goodRejected} good rejected`,
  );
  console.log(
    `inference                ${e.inferenceMsPerImage.toFixed(2)} ms per image (decode + preprocess ${e.decodeMsPerImage.toFixed(2)} ms)`,
  );
  return 0;
}

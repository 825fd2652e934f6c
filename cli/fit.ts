import { parseArgs } from 'node:util';
import { fit } from '../lab/fit.ts';

export default async function fitCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, out: { type: 'string' }, id: { type: 'string' }, version: { type: 'string' }, texture: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || !values.data || !values.out) {
    console.log('Usage: loupe fit --data DIR/CATEGORY --out models/NAME [--texture] [--id ID] [--version V]\n\nFits on DIR/CATEGORY/train/good only; writes model.onnx and manifest.json with proposed thresholds.\n--texture: for surfaces with no fixed layout (one Gaussian for every position) instead of aligned parts.');
    return values.help ? 0 : 2;
  }
  const report = await fit({ data: values.data, out: values.out, id: values.id, version: values.version, method: values.texture ? 'texture' : 'aligned' });
  console.log(`fitted ${report.manifest.id} v${report.manifest.version} in ${report.fitSeconds.toFixed(1)} s on ${String(report.manifest.fittedOn?.goodImages)} good images`);
  console.log(`proposed thresholds: passBelow ${report.manifest.thresholds.passBelow}, rejectAbove ${report.manifest.thresholds.rejectAbove}`);
  return 0;
}

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { decidedParts, exportDataset } from '../lab/decided.ts';
import { DEFAULT_CONFIG } from './options.ts';
import { openStation } from './station-state.ts';

export default async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: DEFAULT_CONFIG },
      station: { type: 'string' },
      out: { type: 'string' },
      days: { type: 'string', default: '30' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.out) {
    console.log(
      'Usage: loupe export --out DIR [--config FILE] [--station S] [--days N]\n\nWrites the parts people decided, with their labels, in the MVTec AD layout:\nDIR/train/good (accepted; one in five held out as DIR/test/good), DIR/test/<defect category> (rejected), and\nDIR/ground_truth/<defect category>/<part>_mask.png for each reject whose region a person marked.',
    );
    return values.help ? 0 : 2;
  }
  const config = await loadConfig(values.config);
  const station = await openStation(config, values.station);
  const parts = decidedParts(station.learnable(Number(values.days)), station.imageDir);
  station.reviews.close();
  const counts = await exportDataset(parts, values.out);
  console.log(
    `${station.id}: ${counts.good} accepted (${counts.testGood} of them in test/good) and ${counts.defective} rejected parts (${counts.masks} with a marked region, as a mask) written to ${values.out}`,
  );
  return 0;
}

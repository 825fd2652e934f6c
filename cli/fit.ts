import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { decidedParts } from '../lab/decided.ts';
import { fit, PRETRAINED_SETTINGS, type FitMethod, type MethodChoice } from '../lab/fit.ts';
import { METHODS_BY_COST } from '../lab/method.ts';
import { refitFromDecisions } from '../lab/refit.ts';
import { DEFAULT_CONFIG } from './options.ts';
import { openStation } from './station-state.ts';

export default async function fitCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      id: { type: 'string' },
      version: { type: 'string' },
      texture: { type: 'boolean' },
      method: { type: 'string' },
      pretrained: { type: 'string' },
      'from-decisions': { type: 'boolean' },
      config: { type: 'string', default: DEFAULT_CONFIG },
      station: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const method = values.texture ? 'texture' : (values.method ?? 'auto');
  if (!isFitMethod(method)) {
    console.error(
      `loupe fit: --method must be auto, aligned, texture, pretrained, pretrained-aligned or fused, got "${method}"`,
    );
    return 2;
  }
  const pretrained = values.pretrained === undefined ? undefined : PRETRAINED_SETTINGS[values.pretrained];
  if (values.pretrained !== undefined && !pretrained) {
    console.error(
      `loupe fit: --pretrained must be ${Object.keys(PRETRAINED_SETTINGS).join(' or ')}, got "${values.pretrained}"`,
    );
    return 2;
  }
  if (values['from-decisions'] && values.out) {
    // Parts people accepted join the good set (plus --data's train/good, if given): a new model version.
    const config = await loadConfig(values.config);
    const station = await openStation(config, values.station);
    const parts = decidedParts(station.learnable(365), station.imageDir);
    station.reviews.close();
    const report = await refitFromDecisions({
      parent: station.modelDir,
      parts,
      goodData: values.data,
      out: values.out,
      method: values.texture || values.method ? method : undefined,
    });
    console.log(
      `refitted ${report.manifest.id} v${report.manifest.version} from ${JSON.stringify(report.manifest.lineage)}`,
    );
    console.log(
      `proposed thresholds: passBelow ${report.manifest.thresholds.passBelow}, rejectAbove ${report.manifest.thresholds.rejectAbove}`,
    );
    console.log(
      `swap it in, logged in as a manager: POST /api/stations/${station.id}/model { "model": "${values.out}" } (the approver is the session's person)`,
    );
    return 0;
  }
  if (values.help || !values.data || !values.out) {
    console.log(
      'Usage: loupe fit --data DIR/CATEGORY --out models/NAME [--method auto|aligned|texture|pretrained|pretrained-aligned|fused] [--pretrained shipped|stride4|stride4-pair] [--id ID] [--version V]\n' +
        '       loupe fit --from-decisions --out models/NAME [--config FILE] [--station S] [--data DIR/CATEGORY]\n\n' +
        'Fits on DIR/CATEGORY/train/good only; writes model.onnx and manifest.json with proposed thresholds.\n' +
        '--method: aligned (a Gaussian per position, parts in a fixture), texture (a memory bank of patches, surfaces\n' +
        '  with no fixed layout), both on hand-made filters; pretrained (memory bank) and pretrained-aligned (Gaussians)\n' +
        "  on features of PP-OCRv4's detector backbone; fused (both banks in one graph, on request only); auto (default): every method scored on held-out good parts\n" +
        '  and the same parts with defects painted on, each also as a camera JPEG; the best kept (the cheaper on a tie,\n' +
        '  and a method ten times dearer only if it wins by a margin). --texture = --method texture.\n' +
        '--pretrained stride4: the pretrained methods on a stride-4 patch grid with a bank of 8,192 (finer marks on\n' +
        '  grey textures, about three times the inference; docs/model.md); stride4-pair: the same with the two stride-4\n' +
        '  taps only; default: shipped.\n' +
        "--from-decisions: a new version of the station's model, with the parts people accepted added to the good set.",
    );
    return values.help ? 0 : 2;
  }
  const started = performance.now();
  const onProgress = (message: string) =>
    console.error(`fit ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s  ${message}`);
  const report = await fit({
    data: values.data,
    out: values.out,
    id: values.id,
    version: values.version,
    method,
    onProgress,
    pretrained,
  });
  console.log(
    `fitted ${report.manifest.id} v${report.manifest.version} in ${report.fitSeconds.toFixed(1)} s on ${String(report.manifest.fittedOn?.goodImages)} good images`,
  );
  console.log(`method ${report.method}${method === 'auto' ? ` (auto: ${describeChoice(report.choice)})` : ''}`);
  console.log(
    `proposed thresholds: passBelow ${report.manifest.thresholds.passBelow}, rejectAbove ${report.manifest.thresholds.rejectAbove}`,
  );
  return 0;
}

function isFitMethod(name: string): name is FitMethod {
  return name === 'auto' || (METHODS_BY_COST as string[]).includes(name);
}

function describeChoice(choice: MethodChoice): string {
  const layout = `share of feature variance explained by position ${choice.positionalShare}`;
  if (!choice.probes) return layout;
  const probes = Object.entries(choice.probes)
    .map(([method, probe]) => `${method} ${probe.auroc} / ${probe.autoPass}`)
    .join(', ');
  return `${layout}; image AUROC / auto-pass on the probes: ${probes}; ${choice.reason}`;
}

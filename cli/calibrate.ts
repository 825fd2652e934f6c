import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { propose } from '../edge/src/decide/calibrate.ts';
import { DEFAULT_CONFIG } from './options.ts';
import { openStation } from './station-state.ts';

export default async function calibrate(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: DEFAULT_CONFIG },
      station: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      "Usage: loupe calibrate [--config FILE] [--station S] [--json]\n\nProposes pass_below / reject_above from the decided history of a station. Nothing changes until a\nmanager approves it, logged in: POST /api/stations/S/thresholds { passBelow, rejectAbove, basis? } (the\napprover is the session's person), or on the dashboard.",
    );
    return 0;
  }
  const config = await loadConfig(values.config);
  const station = await openStation(config, values.station);
  const stationConfig = config.stations.find((s) => s.id === station.id);
  const proposal = propose(station.learnable(30), station.thresholds, station.reviews.scoreHistogram(), {
    auditShare: stationConfig?.audit.share,
  });
  station.reviews.close();
  if (values.json) {
    console.log(JSON.stringify({ station: station.id, ...proposal }));
    return 0;
  }
  if (!proposal.ok) {
    console.log(`${station.id}: no proposal — ${proposal.reason}`);
    return 0;
  }
  const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
  console.log(
    `${station.id}: proposal from ${proposal.decisions} human decisions (${proposal.rejected} rejected, ${proposal.accepted} accepted)`,
  );
  console.log(`  passBelow   ${proposal.current.passBelow} → ${proposal.thresholds.passBelow}`);
  console.log(`  rejectAbove ${proposal.current.rejectAbove} → ${proposal.thresholds.rejectAbove}`);
  console.log(
    `  review rate ${pct(proposal.currentReviewRate)} → ${pct(proposal.projectedReviewRate)} (projected on the scores seen)`,
  );
  console.log(
    `  every part a person rejected stays at or above passBelow. Approve with POST /api/stations/${station.id}/thresholds`,
  );
  return 0;
}

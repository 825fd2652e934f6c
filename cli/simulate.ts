import { parseArgs } from 'node:util';
import { simulate, type Simulation } from '../lab/simulate.ts';

export default async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      parts: { type: 'string', default: '5000' },
      windows: { type: 'string', default: '10' },
      'calibrate-every': { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      people: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'Usage: loupe simulate [--parts N] [--windows W] [--calibrate-every K] [--seed S] [--people a:0.1,b:0.05] [--json]\n\nStreams synthetic parts through the real station and broker; a simulated technician decides\nreviews from the ground truth; calibration is approved every K decisions.',
    );
    return 0;
  }
  const parts = Number(values.parts);
  if (!Number.isInteger(parts) || parts < 10) {
    console.error('loupe simulate: --parts must be an integer of at least 10');
    return 2;
  }
  // --people ana:0.1,bo:0.05 : simulated people and their error rates
  const people = values.people?.split(',').map((spec) => {
    const [name, rate] = spec.split(':');
    return { name: `sim-${name}`, errorRate: Number(rate ?? 0) };
  });
  if (people?.some((p) => !/^sim-[a-z0-9-]+$/i.test(p.name) || !(p.errorRate >= 0 && p.errorRate <= 1))) {
    console.error('loupe simulate: --people is name:errorRate,... with an error rate from 0 to 1');
    return 2;
  }
  let outcome: Simulation;
  try {
    outcome = await simulate({
      parts,
      windows: Number(values.windows),
      calibrateEvery: Number(values['calibrate-every']),
      seed: Number(values.seed),
      ...(people ? { people } : {}),
    });
  } catch (error) {
    // A refused call or a part without a verdict: the loop did not close, so there are no figures to show.
    console.error(`loupe simulate: stopped: ${(error as Error).message}`);
    return 1;
  }
  if (values.json) {
    console.log(JSON.stringify(outcome));
    return 0;
  }
  console.log('window  parts  review rate  escapes  false rejects  passBelow  rejectAbove');
  outcome.windows.forEach((w, i) =>
    console.log(
      `${String(i + 1).padStart(6)}  ${String(w.parts).padStart(5)}  ${(w.reviewRate * 100).toFixed(1).padStart(10)}%  ${String(w.escapes).padStart(7)}  ${String(w.falseRejects).padStart(13)}  ${String(w.thresholds.passBelow).padStart(9)}  ${String(w.thresholds.rejectAbove).padStart(11)}`,
    ),
  );
  console.log(
    `total escapes ${outcome.totalEscapes}, false rejects ${outcome.totalFalseRejects}, ${outcome.decisions} decisions, ${outcome.thresholdChanges} threshold changes`,
  );
  const percent = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
  console.log(`suggestion accuracy per window: ${outcome.windows.map((w) => percent(w.suggestionAccuracy)).join(' ')}`);
  console.log(
    `second opinions ${outcome.secondOpinions}, disputes ${outcome.disputes}; kappa between people ${outcome.agreementKappa ?? '-'} (their error rates imply ${outcome.expectedKappa ?? '-'}); escapes by a single person ${outcome.singleEscapes}, after adjudication ${outcome.settledEscapes}`,
  );
  return 0;
}

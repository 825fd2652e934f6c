/**
 * `loupe bench [--json] [--only a,b]` — every benchmark of the project in one run, one JSON object.
 * Each suite compares against the raw cost of the same work measured in the same run, so the
 * figures are ratios that survive a noisy, shared machine.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';

type Suite = () => Promise<Record<string, number>>;

const suites: Record<string, { about: string; run: Suite }> = {
  pipeline: { about: 'parts/s at saturation, latency at 50% / 90% load, CPU per part, overhead over raw decode + run, RSS', run: async () => (await import('../bench/pipeline.ts')).benchPipeline() },
  vision: { about: "model pre/post-processing over a bare session.run", run: async () => (await import('../bench/vision.ts')).benchVision() },
  screen: { about: 'review opened at the edge to part drawn in Chromium, p50 / p99, against a bare WebSocket to the same browser', run: async () => (await import('../bench/screen.ts')).benchScreen() },
};

export default async function bench(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(['Usage: loupe bench [--json] [--only SUITE,...]', '', 'Suites:', ...Object.entries(suites).map(([n, s]) => `  ${n.padEnd(9)} ${s.about}`)].join('\n'));
    return 0;
  }
  const chosen = values.only ? values.only.split(',') : Object.keys(suites);
  const unknown = chosen.filter((name) => !suites[name]);
  if (unknown.length > 0) {
    console.error(`loupe bench: unknown suite ${unknown.join(', ')}; suites: ${Object.keys(suites).join(', ')}`);
    return 2;
  }
  const report: Record<string, unknown> = {};
  for (const name of chosen) {
    if (!values.json) console.error(`bench: ${name}…`);
    Object.assign(report, await suites[name].run());
  }
  report.machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  if (values.json) console.log(JSON.stringify(report));
  else for (const [key, value] of Object.entries(report)) console.log(`${key.padEnd(28)} ${value}`);
  return 0;
}

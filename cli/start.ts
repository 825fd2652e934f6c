import { parseRunOptions } from './options.ts';
import { runUntilSignal } from './run.ts';

export default async function start(argv: string[]): Promise<number> {
  const parsed = await parseRunOptions(argv, 'start');
  if (typeof parsed === 'number') return parsed;
  return runUntilSignal(parsed.config, { broker: true, edge: true, dashboard: true });
}

import { parseRunOptions } from './options.ts';
import { runUntilSignal } from './run.ts';

export default async function edge(argv: string[]): Promise<number> {
  const parsed = await parseRunOptions(argv, 'edge');
  if (typeof parsed === 'number') return parsed;
  return runUntilSignal(parsed.config, { broker: false, edge: true, dashboard: false });
}

import { parseRunOptions } from './options.ts';
import { runUntilSignal } from './run.ts';

export default async function dashboard(argv: string[]): Promise<number> {
  const parsed = await parseRunOptions(argv, 'dashboard');
  if (typeof parsed === 'number') return parsed;
  return runUntilSignal(parsed.config, { broker: false, edge: false, dashboard: true });
}

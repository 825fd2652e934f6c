/** Logs a person can read on a terminal, JSON lines everywhere else. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../cli/log.ts';

function capture(tty: boolean, env: NodeJS.ProcessEnv = {}): string {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk) => (text += String(chunk)));
  createLogger({ tty, destination: out, env }).child({ station: 'cam-1' }).warn({ partId: 'P-1' }, 'queue full');
  return text;
}

describe('process logs', () => {
  it('are readable lines on a terminal', () => {
    const line = capture(true);
    expect(line).toMatch(/WARN.*queue full/);
    expect(line).toContain('P-1');
    expect(() => JSON.parse(line) as unknown).toThrow();
  });

  it('are JSON lines otherwise, or when asked for', () => {
    expect(JSON.parse(capture(false))).toMatchObject({ level: 40, msg: 'queue full', station: 'cam-1', partId: 'P-1' });
    expect(JSON.parse(capture(true, { LOUPE_LOG_FORMAT: 'json' }))).toMatchObject({ msg: 'queue full' });
  });
});

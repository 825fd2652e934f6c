/** The process logger: JSON lines on stdout (pino), one child per station so every line names it. */
import pino, { type Logger } from 'pino';

export function createLogger(): Logger {
  return pino({ level: process.env.LOUPE_LOG_LEVEL ?? 'info', base: { pid: process.pid } });
}

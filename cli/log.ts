/**
 * The process logger, one child per station so every line names it. On a terminal a person reads
 * it: pino-pretty, one readable line per event. Anywhere else (systemd's journal, a pipe, a file)
 * it is JSON lines for machines. `LOUPE_LOG_FORMAT=json` or `pretty` chooses explicitly.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LoggerOptions {
  /** whether output goes to a terminal (default: stdout is a TTY) */
  tty?: boolean;
  /** where lines go (default: stdout) */
  destination?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const settings = { level: env.LOUPE_LOG_LEVEL ?? 'info', base: { pid: process.pid } };
  const format = env.LOUPE_LOG_FORMAT ?? ((options.tty ?? process.stdout.isTTY) ? 'pretty' : 'json');
  const destination = options.destination ?? process.stdout;
  if (format === 'pretty') {
    // sync: a line is written before the next statement runs, as with JSON (no worker thread).
    return pino(
      settings,
      pretty({
        destination,
        sync: true,
        colorize: options.destination === undefined && Boolean(process.stdout.isTTY),
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
      }),
    );
  }
  return pino(settings, destination);
}

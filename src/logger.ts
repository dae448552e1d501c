/** pino: JSON lines to stdout, or pretty lines when a person is watching a terminal. */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  // Machines read the JSON; only an interactive terminal gets pino-pretty (in a worker thread).
  const target =
    destination ??
    (process.stdout.isTTY
      ? pino.transport({ target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } })
      : undefined);
  return pino(
    {
      level,
      base: { service: 'audit-trail' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Tokens and write keys must never reach the log, whatever object a caller passes.
      redact: {
        paths: ['token', '*.token', 'writeKey', '*.writeKey', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    target,
  );
}

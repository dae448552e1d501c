/** pino, JSON to stdout; pretty only when a person is watching a TTY and pino-pretty is installed. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'audit-trail' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Tokens and write keys must never reach the log, whatever object a caller passes.
      redact: { paths: ['token', '*.token', 'writeKey', '*.writeKey', 'req.headers.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}

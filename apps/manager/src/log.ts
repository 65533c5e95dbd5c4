import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger<never>;

/** Structured JSON logs on stdout. Tokens are never passed to a logger. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
    level,
    base: { svc: 'ocdn-manager', ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization'], remove: true },
    },
    destination as never,
  );
}

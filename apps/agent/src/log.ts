/** A small structured logger: one JSON object per line on stdout. The agent bundle stays free of pino's workers. */
const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  const min = LEVELS[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, fields: Record<string, unknown>, msg: string) => {
    if (LEVELS[lvl] < min) return;
    const rec: Record<string, unknown> = { level: lvl, time: new Date().toISOString(), svc: 'ocdn-agent', ...bindings };
    for (const [k, v] of Object.entries(fields)) rec[k] = v instanceof Error ? v.message : v;
    rec.msg = msg;
    process.stdout.write(`${JSON.stringify(rec)}\n`);
  };
  return {
    debug: (f, m) => write('debug', f, m),
    info: (f, m) => write('info', f, m),
    warn: (f, m) => write('warn', f, m),
    error: (f, m) => write('error', f, m),
    child: (b) => createLogger(level, { ...bindings, ...b }),
  };
}

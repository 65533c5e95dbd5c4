import { startManager } from './start-manager.ts';
import { parseManagerEnv } from './env.ts';
import { createLogger } from './log.ts';
import { survivingLostConnections } from './stray-rejections.ts';
import { applyGcFlags } from './gc-flags.ts';

async function main(): Promise<void> {
  const v8Flags = applyGcFlags(); // before the DNS and watch threads start
  let env;
  try {
    env = parseManagerEnv(process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger(env.OCDN_LOG_LEVEL);
  survivingLostConnections(log);
  if (v8Flags.length > 0) log.info({ v8Flags }, "the collector's background tasks off (gc-flags.ts)");
  let manager;
  try {
    manager = await startManager(env, { log });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'manager failed to start');
    process.exit(1);
  }
  if (manager.generatedAdminToken) {
    // Printed once, on the first start; only its hash is kept.
    process.stderr.write(
      `\n  ocdn: a new admin token was generated. It is shown only now; keep it safe:\n\n    ${manager.generatedAdminToken}\n\n` +
        `  Use it as "Authorization: Bearer <token>". Lost it? Start with OCDN_ADMIN_TOKEN=<a secret of your choice>:\n` +
        `  a configured token always works, whatever was generated before.\n\n`,
    );
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    manager.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();

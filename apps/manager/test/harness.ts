import { startManager, type RunningManager } from '../src/start-manager.ts';
import type { Database } from '../src/db/client.ts';
import { parseManagerEnv } from '../src/env.ts';
import { createLogger } from '../src/log.ts';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.ts';

export const ADMIN = 'test-admin-token-0123456789';

export interface Harness {
  manager: RunningManager;
  database: Database;
  /** The PostgreSQL database's URL (null on PGlite): another replica can open it. */
  url: string | null;
  /** Calls the API in-process with the admin token (unless headers say otherwise; `authorization: ''` sends none). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** A manager on a fresh database of the given backend; `listen` serves real HTTP on a free port. */
export async function startHarness(
  backend: 'pglite' | 'postgres',
  envOverrides: Record<string, string> = {},
  opts: { listen?: boolean; log?: NodeJS.WritableStream } = {},
): Promise<Harness> {
  const tdb: TestDatabase = await createTestDatabase(backend);
  const database = await tdb.open();
  const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: ADMIN, OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_LOG_LEVEL: 'silent', ...envOverrides });
  const log = opts.log ? createLogger('debug', {}, opts.log) : createLogger(env.OCDN_LOG_LEVEL);
  const manager = await startManager(env, { database, listen: opts.listen ?? false, log });
  return {
    manager,
    database,
    url: tdb.url,
    async call(method, path, body, headers = {}) {
      const h: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...headers };
      if (h.authorization === '') delete h.authorization; // `authorization: ''` sends none
      const init: RequestInit = { method, headers: h };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      const res = await manager.app.request(path, init);
      if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel(); // a live stream never ends: its status is the answer
        return { status: res.status, body: null };
      }
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {}
      return { status: res.status, body: parsed };
    },
    async close() {
      await manager.stop();
      await database.close();
      await tdb.cleanup();
    },
  };
}

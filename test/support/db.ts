import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openDatabase, type Database } from '../../apps/manager/src/db/client.ts';
import { migrate } from '../../apps/manager/src/db/migrate.ts';

/** A database a test owns: created fresh, dropped (or thrown away) by cleanup(). */
export interface TestDatabase {
  name: 'pglite' | 'postgres';
  /** For child processes: DATABASE_URL, or null for PGlite (give the process its own OCDN_DATA_DIR instead). */
  url: string | null;
  open(): Promise<Database>;
  cleanup(): Promise<void>;
}

/**
 * The backends every API test runs on: embedded PGlite always, and PostgreSQL when TEST_DATABASE_URL is set
 * (CI sets it). Each PostgreSQL test database is a new database created from that URL.
 */
export function testBackends(): ('pglite' | 'postgres')[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export async function createTestDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'pglite') {
    return { name: 'pglite', url: null, open: () => openDatabase({ memory: true }), cleanup: async () => {} };
  }
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const dbName = `ocdn_t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${dbName}`;
  return {
    name: 'postgres',
    url: url.toString(),
    open: () => openDatabase({ url: url.toString() }),
    async cleanup() {
      const a = postgres(base, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${dbName} with (force)`);
      await a.end();
    },
  };
}

/** Runs `fn` on a migrated database of its own, closed and dropped afterwards. */
export async function onMigratedDatabase(kind: 'pglite' | 'postgres', fn: (database: Database) => Promise<void>): Promise<void> {
  const tdb = await createTestDatabase(kind);
  const database = await tdb.open();
  try {
    await migrate(database.db);
    await fn(database);
  } finally {
    await database.close();
    await tdb.cleanup();
  }
}

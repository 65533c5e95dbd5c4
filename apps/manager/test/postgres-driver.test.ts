// The `postgres` driver as installed (scripts/patch-postgres.mjs runs after npm install): a query on a reserved
// connection whose backend died is rejected with CONNECTION_CLOSED, instead of a TypeError thrown from a timer that
// kills the process (porsager/postgres#1208) — what a database restart did to the manager. Whether the driver has
// seen the socket close before the query is written (CONNECTION_CLOSED) or only while writing it (ECONNRESET) is a
// race of the kernel's; either way the query is rejected and the process lives. And sql.begin() reserves its
// connection even when its BEGIN fills the connection's pipeline (porsager/postgres#1189): unpatched, the transaction
// failed with UNSAFE_TRANSACTION or stayed open on a connection the pool handed to others. Needs PostgreSQL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import postgres from 'postgres';
import { describe, it } from 'node:test';

const SCRIPT = `
import postgres from 'postgres';
const sql = postgres(process.env.URL, { max: 2, onnotice: () => {} });
const conn = await sql.reserve();
const [{ pid }] = await conn\`select pg_backend_pid() as pid\`;
await sql\`select pg_terminate_backend(\${pid})\`;
for (const deadline = Date.now() + 10_000; ; ) {
  const [{ n }] = await sql\`select count(*)::int as n from pg_stat_activity where pid = \${pid}\`;
  if (n === 0) break;
  if (Date.now() > deadline) throw new Error('backend ' + pid + ' still alive');
  await new Promise((r) => setTimeout(r, 20));
}
try { await conn\`select 1\`; console.log('answered'); } catch (e) { console.log('rejected ' + e.code); }
conn.release();
await sql.end({ timeout: 1 });
`;

describe('the postgres driver survives a connection that dies under a reserved query', () => {
  it('rejects the query (connection closed or reset) and the process lives', (t) => {
    const url = process.env.TEST_DATABASE_URL;
    if (!url) return t.skip('needs TEST_DATABASE_URL (PostgreSQL)');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: import.meta.dirname, env: { ...process.env, URL: url }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `the process died:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /rejected (CONNECTION_CLOSED|ECONNRESET)/);
  });

  it('reserves the connection of a transaction whose BEGIN fills the pipeline', async (t) => {
    const url = process.env.TEST_DATABASE_URL;
    if (!url) return t.skip('needs TEST_DATABASE_URL (PostgreSQL)');
    // max_pipeline 0: every query fills the pipeline, so every BEGIN is at the boundary (upstream's #1210 case).
    // (max_pipeline is an option of the driver its type declarations leave out.)
    const sql = postgres(url, { max: 2, onnotice: () => {}, ...({ max_pipeline: 0 } as object) });
    try {
      const inside = await sql.begin(async (tx) => {
        const [a] = await tx<{ xid: string }[]>`select txid_current()::text as xid`;
        const [b] = await tx<{ xid: string }[]>`select txid_current()::text as xid`;
        return a!.xid === b!.xid;
      });
      assert.equal(inside, true, 'both statements ran in one transaction');
      // Side by side with other queries: none of them lands in a transaction's connection.
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2
            ? sql.begin(async (tx) => {
                await tx`set local application_name = 'in_tx'`;
                return (await tx`select ${i}::int as n`)[0]!.n;
              })
            : sql`select ${i}::int as n, current_setting('application_name') as app`.then((r) => (r[0]!.app === 'in_tx' ? -1 : r[0]!.n)),
        ),
      );
      assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});

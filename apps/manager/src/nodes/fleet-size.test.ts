// The manager says in its log when the fleet nears a limit of its own — what the embedded database keeps up with,
// the open files the process may hold (two per agent) — before the limit is reached, once per level, and again after
// falling back and rising.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { nodes } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { FleetSizeWatch, embeddedDatabaseLimit, openFilesLimit } from './fleet-size.ts';

describe("fleet size against the manager's limits", () => {
  /** A migrated in-memory database, and a logger that keeps what is warned. */
  const setUp = async () => {
    const database = await openDatabase({ memory: true });
    await migrate(database.db);
    const said: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => said.push(msg) } as unknown as Logger;
    return { database, said, log };
  };

  const add = async (database: Awaited<ReturnType<typeof openDatabase>>, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      await database.db.insert(nodes).values({ id: `nod_fleet${String(i).padStart(4, '0')}`, name: `n${i}`, ip: `127.0.9.${i + 1}`, roles: ['cdn'], agentPort: 8081, status: 'normal', tls: false, token: 'x', tokenHash: 'x' });
    }
  };

  it('warns at 80 % of the limit and past it, once each', async () => {
    const { database, said, log } = await setUp();
    try {
      const watch = new FleetSizeWatch(database.db, log, [embeddedDatabaseLimit(10)]);
      await add(database, 0, 7);
      assert.deepEqual(await watch.check(), ['ok']);
      await add(database, 7, 8);
      assert.deepEqual(await watch.check(), ['near']);
      assert.deepEqual(await watch.check(), ['near']);
      assert.equal(said.length, 1, 'said once');
      assert.match(said[0]!, /^8 nodes: nearing the 10 the embedded database keeps up with.*PostgreSQL \(DATABASE_URL\)/);
      await add(database, 8, 10);
      assert.deepEqual(await watch.check(), ['over']);
      assert.match(said[1]!, /^10 nodes: past the 10/);
      // Deleted nodes do not count; falling back and rising says it again.
      await database.db.update(nodes).set({ status: 'delete' }).where(eq(nodes.name, 'n9'));
      await database.db.update(nodes).set({ status: 'delete' }).where(eq(nodes.name, 'n8'));
      await database.db.update(nodes).set({ status: 'delete' }).where(eq(nodes.name, 'n7'));
      assert.deepEqual(await watch.check(), ['ok']);
      await add(database, 10, 12);
      assert.deepEqual(await watch.check(), ['near']);
      assert.equal(said.length, 3);
    } finally {
      await database.close();
    }
  });

  it('reads the open-file limit: two files per agent, past what the manager holds besides', () => {
    const limits = `Limit                     Soft Limit           Hard Limit           Units
Max processes             95548                95548                processes
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;
    const limit = openFilesLimit(limits);
    assert.equal(limit?.nodes, 9872);
    assert.match(limit!.over(9900), /^9900 nodes: past the 9872 this process's open-file limit \(20000\) leaves room for, two per agent; agents will be refused\. raise .*LimitNOFILE/);
    assert.equal(openFilesLimit(limits.replace(/20000 {16}20000/, 'unlimited            unlimited')), null);
    assert.equal(openFilesLimit(null), null, 'not Linux: nothing to say');
    // This machine's own, read from /proc.
    assert.ok((openFilesLimit()?.nodes ?? 1) > 0);
  });

  it('tells each limit on its own: the open files with the embedded database, or alone', async () => {
    const { database, said, log } = await setUp();
    try {
      const files = openFilesLimit('Max open files            268                  268                  files\n')!;
      assert.equal(files.nodes, 6);
      const watch = new FleetSizeWatch(database.db, log, [embeddedDatabaseLimit(10), files]);
      await add(database, 0, 5);
      assert.deepEqual(await watch.check(), ['ok', 'near']);
      await add(database, 5, 8);
      assert.deepEqual(await watch.check(), ['near', 'over']);
      assert.deepEqual(said.map((m) => m.replace(/:.*/, '')), ['5 nodes', '8 nodes', '8 nodes']);
      assert.match(said[1]!, /nearing the 10 the embedded database/);
      assert.match(said[2]!, /past the 6 this process's open-file limit \(268\)/);
    } finally {
      await database.close();
    }
  });
});

// On the embedded database the manager says in its log when the fleet nears what the embedded database keeps up
// with — before the limit is reached, once per level, and again after falling back and rising.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { nodes } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { FleetSizeWatch } from './fleet-size.ts';

describe('fleet size on the embedded database', () => {
  it('warns at 80 % of the limit and past it, once each', async () => {
    const database = await openDatabase({ memory: true });
    try {
      await migrate(database.db);
      const said: string[] = [];
      const log = { warn: (_o: unknown, msg: string) => said.push(msg) } as unknown as Logger;
      const watch = new FleetSizeWatch(database.db, log, 10);
      const add = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          await database.db.insert(nodes).values({ id: `nod_fleet${String(i).padStart(4, '0')}`, name: `n${i}`, ip: `127.0.9.${i + 1}`, roles: ['cdn'], agentPort: 8081, status: 'normal', tls: false, token: 'x', tokenHash: 'x' });
        }
      };
      await add(0, 7);
      assert.equal(await watch.check(), 'ok');
      await add(7, 8);
      assert.equal(await watch.check(), 'near');
      assert.equal(await watch.check(), 'near');
      assert.equal(said.length, 1, 'said once');
      assert.match(said[0]!, /^8 nodes: nearing the 10 the embedded database keeps up with.*PostgreSQL \(DATABASE_URL\)/);
      await add(8, 10);
      assert.equal(await watch.check(), 'over');
      assert.match(said[1]!, /^10 nodes: past the 10/);
      // Deleted nodes do not count; falling back and rising says it again.
      await database.db.update(nodes).set({ status: 'delete' }).where(eq(nodes.name, 'n9'));
      await database.db.update(nodes).set({ status: 'delete' }).where(eq(nodes.name, 'n8'));
      await database.db.update(nodes).set({ status: 'delete' }).where(eq(nodes.name, 'n7'));
      assert.equal(await watch.check(), 'ok');
      await add(10, 12);
      assert.equal(await watch.check(), 'near');
      assert.equal(said.length, 3);
    } finally {
      await database.close();
    }
  });
});

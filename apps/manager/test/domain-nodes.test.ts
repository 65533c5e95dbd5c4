import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { DomainNodeStatus, NodeStatus } from '@ocdn/protocol';
import type { Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { domainNodes, domains, nodes } from '../src/db/schema.ts';
import type { CoreContext } from '../src/context.ts';
import { DomainNodeWrites, OCDN_DOMAIN_NODE, OCDN_DOMAIN_STATUS } from '../src/domains/status.ts';
import { createTestDatabase, testBackends, type TestDatabase } from '../../../test/support/db.ts';

// OCDN_DOMAIN_NODE's guards against writes of different runs landing out of turn, on a real database: the status a
// node's domain ends with is the one its node's runs meant, whichever write lands last.
for (const backend of testBackends()) {
  describe(`OCDN_DOMAIN_NODE on ${backend}`, () => {
    let tdb: TestDatabase;
    let database: Database;
    let writes: DomainNodeWrites;
    let n = 0;

    before(async () => {
      tdb = await createTestDatabase(backend);
      database = await tdb.open();
      await migrate(database.db);
      writes = new DomainNodeWrites(database.db);
    });
    after(async () => {
      await database?.close();
      await tdb?.cleanup();
    });

    /** A node in `nodeStatus` carrying a domain in `status`, each test its own. */
    const place = async (nodeStatus: NodeStatus, status: DomainNodeStatus) => {
      const i = ++n;
      const node = { id: `nod_dn_${i}`, name: `dn-${i}`, ip: `127.0.8.${i}`, roles: ['cdn' as const], agentPort: 1, token: 't', tokenHash: `h${i}`, status: nodeStatus };
      const domain = `d${i}.guards.example`;
      await database.db.insert(nodes).values(node);
      await database.db.insert(domains).values({ domain, subDomain: `d${i}`, origins: ['http://127.0.0.1:9'], status: 'normal', configVersion: 1 });
      await database.db.insert(domainNodes).values({ domain, nodeId: node.id, status });
      return { domain, nodeId: node.id };
    };
    const statusOf = async (p: { domain: string; nodeId: string }) =>
      (await database.db.select({ s: domainNodes.status }).from(domainNodes).where(and(eq(domainNodes.domain, p.domain), eq(domainNodes.nodeId, p.nodeId))))[0]!.s;
    const setNode = (nodeId: string, status: NodeStatus) => database.db.update(nodes).set({ status }).where(eq(nodes.id, nodeId));

    it("OCDN_DOMAIN_STATUS sets the status and returns the domain's nodes not deleted, or the status alone", async () => {
      const p = await place('normal', 'complete');
      const gone = await place('normal', 'delete');
      await database.db.update(domainNodes).set({ domain: p.domain }).where(eq(domainNodes.nodeId, gone.nodeId));
      const ctx = { db: database.db, database } as unknown as CoreContext;
      assert.deepEqual(await OCDN_DOMAIN_STATUS(ctx, p.domain, 'deleting'), [{ nodeId: p.nodeId, ip: `127.0.8.${n - 1}` }]);
      const status = async () => (await database.db.select({ s: domains.status }).from(domains).where(eq(domains.domain, p.domain)))[0]!.s;
      assert.equal(await status(), 'deleting');
      assert.deepEqual(await OCDN_DOMAIN_STATUS(ctx, p.domain, 'normal', { nodes: false }), []);
      assert.equal(await status(), 'normal');
      await assert.rejects(OCDN_DOMAIN_STATUS(ctx, 'nowhere.example', 'normal'), /does not exist/);
    });

    it('writes complete for a run that brings the domain while the node is normal', async () => {
      const p = await place('normal', 'new');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'complete', true), 'written');
      assert.equal(await statusOf(p), 'complete');
    });

    it("keeps a fault node's domain fault when the run that brought it ends after FAULT_NODE's write", async () => {
      const p = await place('normal', 'new');
      await setNode(p.nodeId, 'fault');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'fault'), 'written'); // FAULT_NODE
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'complete', true), 'kept'); // ADD_DOMAIN, late
      assert.equal(await statusOf(p), 'fault');
    });

    it("marks it fault when FAULT_NODE's write lands after the run's, and complete again on recovery", async () => {
      const p = await place('normal', 'new');
      await setNode(p.nodeId, 'fault');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'complete', true), 'kept');
      assert.equal(await statusOf(p), 'new', 'left for the node runs');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'fault'), 'written');
      // RECOVER_NODE writes complete while the node is still fault (its status changes at its last step)
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'complete'), 'written');
      assert.equal(await statusOf(p), 'complete');
    });

    it('keeps a domain removed from a node removed when the node then fails', async () => {
      const p = await place('normal', 'complete');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'delete'), 'written'); // REMOVE_DOMAIN
      await setNode(p.nodeId, 'fault');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'fault'), 'kept'); // FAULT_NODE, planned before
      assert.equal(await statusOf(p), 'delete');
      assert.equal(await OCDN_DOMAIN_NODE(writes, p.domain, p.nodeId, 'new'), 'written', 'a node joining again starts anew');
    });

    it('gives each write of one batch its own outcome, and refuses a domain that is not on the node', async () => {
      const [a, b, c] = [await place('normal', 'new'), await place('fault', 'new'), await place('fault', 'delete')];
      const outcomes = await Promise.all([
        OCDN_DOMAIN_NODE(writes, a.domain, a.nodeId, 'complete', true),
        OCDN_DOMAIN_NODE(writes, b.domain, b.nodeId, 'complete', true),
        OCDN_DOMAIN_NODE(writes, c.domain, c.nodeId, 'fault'),
        OCDN_DOMAIN_NODE(writes, a.domain, b.nodeId, 'fault').catch((err: Error) => err.message),
      ]);
      assert.deepEqual(outcomes, ['written', 'kept', 'kept', `domain ${a.domain} is not on node ${b.nodeId}`]);
      assert.deepEqual([await statusOf(a), await statusOf(b), await statusOf(c)], ['complete', 'new', 'delete']);
    });
  });
}

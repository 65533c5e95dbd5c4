import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { domains, nodes } from '../src/db/schema.ts';
import { freePort, startAgentProcess, tempDir, type Proc } from '../../../test/support/procs.ts';
import { testBackends } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { startHarness, type Harness } from './harness.ts';

type NodeRow = typeof nodes.$inferSelect;
type DomainRow = typeof domains.$inferSelect;
/** The repair of one node from placements read earlier (the batch's read), as repairMany calls it. */
type RepairNode = (node: NodeRow, placements: { nodeId: string; status: string; domain: DomainRow }[]) => Promise<{ synced: string[]; deleted: string[] } | null>;

// Drift repair against a real agent process (its nginx commands only succeed): nodes are read in batches, and what
// a batch read said is checked again before a config is synced or deleted.
for (const [i, backend] of testBackends().entries()) {
  describe(`drift repair on ${backend}`, () => {
    let h: Harness;
    let agent: Proc;
    let nodeId: string;
    const dir = tempDir(`drift-${backend}`);
    const conf = join(dir.path, 'conf');
    const file = (domain: string) => join(conf, `${domain}.conf`);
    const drift = () => h.manager.loops.drift;
    const node = async () => (await h.manager.ctx.db.select().from(nodes).where(eq(nodes.id, nodeId)))[0]!;
    const domain = async (name: string) => (await h.manager.ctx.db.select().from(domains).where(eq(domains.domain, name)))[0]!;

    before(async () => {
      h = await startHarness(backend, {}, { listen: true });
      const ip = `127.0.7.${i + 1}`;
      const port = await freePort(ip);
      const r = await h.call('POST', '/api/v1/nodes', { name: `drift-${backend}`, ip, roles: ['cdn'], agentPort: port });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      nodeId = r.body.node.id;
      agent = startAgentProcess(`http://127.0.0.1:${h.manager.port}`, r.body.token, ip, port, {
        OCDN_NGINX_CONF_DIR: conf,
        OCDN_NGINX_CACHE_DIR: join(dir.path, 'cache'),
        OCDN_NGINX_TEST_CMD: 'true',
        OCDN_NGINX_RELOAD_CMD: 'true',
        OCDN_LOG_LEVEL: 'warn',
      });
      await waitFor('node normal', async () => (await node()).status === 'normal', { timeoutMs: 30_000 });
      for (const d of ['a.drift.example', 'b.drift.example']) {
        const added = await h.call('POST', '/api/v1/domains', { domain: d, origins: ['http://127.0.0.1:9'] });
        assert.equal(added.status, 202, JSON.stringify(added.body));
      }
      await waitFor('domains complete', async () => (await domain('a.drift.example')).status === 'complete' && (await domain('b.drift.example')).status === 'complete', { timeoutMs: 30_000 });
    });
    after(async () => {
      await agent?.stop();
      await h?.close();
      dir.remove();
    });

    it('brings a lost config back and deletes a stray one, for the nodes of a batch', async () => {
      rmSync(file('a.drift.example'));
      writeFileSync(file('ghost.drift.example'), '# ocdn domain=ghost.drift.example version=1\n');
      const done = await drift().repairMany([nodeId, 'nod_not_there']);
      assert.deepEqual([...done.keys()], [nodeId], 'an unknown node is skipped');
      assert.deepEqual(done.get(nodeId), { synced: ['a.drift.example'], deleted: ['ghost.drift.example'] });
      assert.match(readFileSync(file('a.drift.example'), 'utf8'), /^# ocdn domain=a\.drift\.example version=1 /);
      assert.equal(existsSync(file('ghost.drift.example')), false);
      assert.deepEqual(await drift().repair(nodeId), { synced: [], deleted: [] }, 'nothing left to repair');
    });

    it('reads the node again before it deletes or syncs on what a batch read earlier', async () => {
      const repairNode = (drift() as unknown as { repairNode: RepairNode }).repairNode.bind(drift());
      // Read before both domains came to the node: they are held now, and on the node in the database.
      assert.deepEqual(await repairNode(await node(), []), { synced: [], deleted: [] });
      assert.ok(existsSync(file('a.drift.example')) && existsSync(file('b.drift.example')), 'a domain brought since the read is kept');
      // Read while b was complete; a pipeline has taken it up since: its file is left to the pipeline.
      const stale = { nodeId, status: 'complete', domain: await domain('b.drift.example') };
      writeFileSync(file('b.drift.example'), '# ocdn domain=b.drift.example version=1\n# being changed\n');
      await h.manager.ctx.db.update(domains).set({ status: 'normal' }).where(eq(domains.domain, 'b.drift.example'));
      assert.deepEqual(await repairNode(await node(), [stale]), { synced: [], deleted: [] });
      assert.match(readFileSync(file('b.drift.example'), 'utf8'), /# being changed/);
      await h.manager.ctx.db.update(domains).set({ status: 'complete' }).where(eq(domains.domain, 'b.drift.example'));
      assert.deepEqual(await repairNode(await node(), [stale]), { synced: ['b.drift.example'], deleted: [] }, 'repaired once the pipeline is done');
      assert.doesNotMatch(readFileSync(file('b.drift.example'), 'utf8'), /# being changed/);
    });

    it('skips a node that is not normal', async () => {
      await h.manager.ctx.db.update(nodes).set({ status: 'fault' }).where(eq(nodes.id, nodeId));
      try {
        rmSync(file('a.drift.example'));
        assert.equal((await drift().repairMany([nodeId])).size, 0);
        assert.equal(existsSync(file('a.drift.example')), false, 'left to its RECOVER_NODE');
      } finally {
        await h.manager.ctx.db.update(nodes).set({ status: 'normal' }).where(eq(nodes.id, nodeId));
      }
      assert.deepEqual(await drift().repair(nodeId), { synced: ['a.drift.example'], deleted: [] });
    });
  });
}

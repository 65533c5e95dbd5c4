// The health monitor's decisions are written many to a transaction (NodeRunStarter): a whole fleet losing its link
// at once is a few transactions, not one per node, and the runs still execute in the order they were decided.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../src/db/client.ts';
import { migrate, rowsOf } from '../src/db/migrate.ts';
import { domainNodes, domains, nodes, pipelines } from '../src/db/schema.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics.ts';
import { NodeRunStarter } from '../src/nodes/node-runs.ts';
import { FAULT_NODE } from '../src/pipelines/definitions.ts';
import { PipelineEngine } from '../src/pipelines/engine.ts';
import { STEP_PARAMS, type StoredStepHandlers } from '../src/pipelines/types.ts';
import { createTestDatabase, testBackends, type TestDatabase } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';

const N = 30;

for (const backend of testBackends()) {
  describe(`the health monitor's run starter on ${backend}`, () => {
    let tdb: TestDatabase;
    let database: Database;
    let engine: PipelineEngine;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    /** Steps that ran, as `<step> <nodeId>` in the order they started. */
    const ran: string[] = [];
    const node = (i: number) => ({ id: `nod_starter${String(i).padStart(2, '0')}`, ip: `127.0.3.${i + 1}` });

    before(async () => {
      tdb = await createTestDatabase(backend);
      database = await tdb.open();
      await migrate(database.db);
      // Every step records itself; node 0's steps wait until the test lets them go (its run stays unfinished).
      const step = async (_ctx: unknown, params: { nodeId: string; status?: string }) => {
        ran.push(`${params.status ?? ''} ${params.nodeId}`);
        if (params.nodeId === node(0).id) await held;
      };
      const handlers = Object.fromEntries(Object.keys(STEP_PARAMS).map((name) => [name, step])) as unknown as StoredStepHandlers;
      engine = new PipelineEngine({ database, log: createLogger('silent'), metrics: createMetrics(), handlers });
      await engine.start();
    });
    after(async () => {
      release();
      await engine?.stop();
      await database?.close();
      await tdb?.cleanup();
    });

    it('writes a fleet of decisions in one transaction, once per node, and a second decision on a node after the first', async () => {
      await database.db.insert(nodes).values(
        Array.from({ length: N }, (_, i) => ({ ...node(i), name: `starter-${i}`, roles: ['cdn' as const], agentPort: 9, status: 'normal' as const, token: 'x', tokenHash: 'x' })),
      );
      await database.db.insert(domains).values({ domain: 'starter.example', subDomain: 'starter', origins: ['127.0.0.1'], status: 'complete', configVersion: 1 });
      await database.db.insert(domainNodes).values([1, 2].map((i) => ({ domain: 'starter.example', nodeId: node(i).id, status: 'complete' as const })));
      // Node 0 already has a FAULT_NODE run that has not finished: it gets no second one.
      const earlier = await engine.enqueue(database.db, FAULT_NODE(node(0)));
      await engine.dispatch(earlier, { kind: 'FAULT_NODE' });
      await waitFor('node 0’s run to start', () => ran.includes(`fault ${node(0).id}`));

      const starter = new NodeRunStarter({ database, engine, log: createLogger('silent') });
      for (let i = 0; i < N; i++) starter.start(node(i), 'FAULT_NODE');
      starter.start(node(5), 'RECOVER_NODE'); // answering again before its fault was even written
      const ids = Array.from({ length: N }, (_, i) => node(i).id);
      const runs = () => database.db.select().from(pipelines).where(inArray(pipelines.subject, ids));
      await waitFor('every new run to finish', async () => {
        const rows = await runs();
        return rows.length === N + 1 && rows.filter((r) => r.id !== earlier).every((r) => r.status === 'succeeded');
      });

      const rows = await runs();
      const faults = rows.filter((r) => r.kind === 'FAULT_NODE' && r.id !== earlier);
      assert.deepEqual(faults.map((r) => r.subject).sort(), ids.slice(1), 'one FAULT_NODE per node; none more for node 0');
      assert.equal(new Set(faults.map((r) => r.createdAt.getTime())).size, 1, 'the fleet’s faults were written in one transaction');
      const recover = rows.filter((r) => r.kind === 'RECOVER_NODE');
      assert.deepEqual(recover.map((r) => r.subject), [node(5).id]);
      const fault5 = faults.find((r) => r.subject === node(5).id)!;
      assert.ok(recover[0]!.createdAt > fault5.createdAt, 'the second decision is written after the first');
      assert.ok(ran.indexOf(`normal ${node(5).id}`) > ran.indexOf(`fault ${node(5).id}`), 'and runs after it');

      const statuses = await database.db.select({ id: nodes.id, status: nodes.status }).from(nodes).where(inArray(nodes.id, ids));
      for (const s of statuses) assert.equal(s.status, s.id === node(0).id ? 'normal' : 'fault', s.id);
      // Each node's run carries its own domains.
      const [withDomain] = await database.db.select().from(pipelines).where(and(eq(pipelines.subject, node(1).id), eq(pipelines.kind, 'FAULT_NODE')));
      const steps = rowsOf<{ name: string }>(await database.db.execute(sql`select name from run_steps where pipeline_id = ${withDomain!.id} order by idx`));
      const names = steps.map((s) => s.name);
      assert.deepEqual(names, ['OCDN_NODE_STATUS', 'OCDN_DEL_DNS', 'OCDN_DOMAIN_NODE']);
      assert.equal(starter.backlog, 0);
    });

    it('starts no second FAULT_NODE for a node already faulty, from another writer after the first run finished', async () => {
      const n = { id: 'nod_startertwice', ip: '127.0.3.201' };
      await database.db.insert(nodes).values({ ...n, name: 'starter-twice', roles: ['cdn'], agentPort: 9, status: 'normal', token: 'x', tokenHash: 'x' });
      const runsOf = (kind: 'FAULT_NODE' | 'RECOVER_NODE') => database.db.select().from(pipelines).where(and(eq(pipelines.subject, n.id), eq(pipelines.kind, kind)));
      const settled = (kind: 'FAULT_NODE' | 'RECOVER_NODE', count: number) =>
        waitFor(`${count} ${kind} succeeded`, async () => {
          const rows = await runsOf(kind);
          return rows.length === count && rows.every((r) => r.status === 'succeeded');
        });
      // The monitor and the health watch thread: two writers that may decide the same death.
      const monitor = new NodeRunStarter({ database, engine, log: createLogger('silent') });
      const watch = new NodeRunStarter({ database, engine, log: createLogger('silent') }, () => true, 1_000, true);
      watch.start(n, 'FAULT_NODE');
      await settled('FAULT_NODE', 1);
      monitor.start(n, 'FAULT_NODE'); // the same death, seen a moment later: the node is `fault` and its last run FAULT_NODE
      await waitFor('the second decision written', () => !monitor.busy);
      assert.equal((await runsOf('FAULT_NODE')).length, 1, 'no second FAULT_NODE');
      // Recovering (its RECOVER_NODE the latest decision) and failing again is a new failure, for the monitor.
      monitor.start(n, 'RECOVER_NODE');
      await settled('RECOVER_NODE', 1);
      monitor.start(n, 'FAULT_NODE');
      await settled('FAULT_NODE', 2);
      // The watch thread decides only a node that is `normal`: a list a moment old names one that is not any more.
      watch.start(n, 'FAULT_NODE');
      await waitFor('the thread’s decision written', () => !watch.busy);
      assert.equal((await runsOf('FAULT_NODE')).length, 2);
    });

    it('writes a decision again when its transaction failed (its connection ended), and loses none', { skip: backend !== 'postgres' && 'ends a PostgreSQL backend' }, async () => {
      const n = { id: 'nod_starterretry', ip: '127.0.3.200' };
      await database.db.insert(nodes).values({ ...n, name: 'starter-retry', roles: ['cdn'], agentPort: 9, status: 'normal', token: 'x', tokenHash: 'x' });
      // The decision's transaction waits for this lock at its status update; its backend is then ended under it.
      let unlock: () => void = () => {};
      const unlocked = new Promise<void>((r) => (unlock = r));
      let locked: () => void = () => {};
      const isLocked = new Promise<void>((r) => (locked = r));
      const holding = database.db.transaction(async (tx) => {
        await tx.execute(sql`lock table nodes in share mode`);
        locked();
        await unlocked;
      });
      try {
        // The decision starts only once the lock is held: started earlier, it could commit before the lock was taken.
        await Promise.race([isLocked, holding]);
        const starter = new NodeRunStarter({ database, engine, log: createLogger('silent') }, () => true, 100);
        starter.start(n, 'FAULT_NODE');
        const waiting = () => database.db.execute(sql`select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'update "nodes"%'`);
        const [blocked] = rowsOf<{ pid: number }>(await waitFor('the decision to wait for the lock', async () => (rowsOf(await waiting()).length ? await waiting() : null)));
        await database.db.execute(sql`select pg_terminate_backend(${blocked!.pid})`);
      } finally {
        unlock();
        await holding;
      }
      await waitFor('the fault written and run', async () => {
        const runs = await database.db.select().from(pipelines).where(eq(pipelines.subject, n.id));
        return runs.length === 1 && runs[0]!.status === 'succeeded';
      });
      const [row] = await database.db.select({ status: nodes.status }).from(nodes).where(eq(nodes.id, n.id));
      assert.equal(row!.status, 'fault');
    });
  });
}

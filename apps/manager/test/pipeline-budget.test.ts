import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics.ts';
import { HEALTH_RUN, runWeight } from '../src/pipelines/admission.ts';
import { PipelineEngine } from '../src/pipelines/engine.ts';
import { NO_RETRY, STEP_PARAMS, type PipelineKind, type PipelineSpec, type StepSpec, type StoredStepHandlers } from '../src/pipelines/types.ts';
import { createTestDatabase, testBackends, type TestDatabase } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { runStatus, startRun } from './engine-runs.ts';

/** Each step waits for the gate its key names (open when there is none) and records that it started. */
function gatedHandlers(started: string[], gates: Map<string, Promise<void>>): StoredStepHandlers {
  const run = async (_ctx: unknown, params: { key: string }) => {
    started.push(params.key);
    await gates.get(params.key);
  };
  return Object.fromEntries(Object.keys(STEP_PARAMS).map((name) => [name, run])) as unknown as StoredStepHandlers;
}

/** A run of `kind` on `nodes` nodes (its input's nodeIds) whose one step is keyed `key`. */
const runOf = (kind: PipelineKind, subject: string, key: string, nodes: number): PipelineSpec => ({
  kind,
  subject,
  input: { domain: subject, nodeIds: Array.from({ length: nodes }, (_, i) => `nod_${i}`) },
  steps: [{ name: 'OCDN_NODE_STATUS', target: key, params: { key }, policy: NO_RETRY } as unknown as StepSpec],
});

describe('runWeight', () => {
  it('counts a domain run by its nodes, a health run apart, and ADD_NODE and REMOVE_NODE as nothing', () => {
    assert.equal(runWeight('ADD_DOMAIN', { nodeIds: ['a', 'b', 'c'] }), 3);
    assert.equal(runWeight('REMOVE_DOMAIN', { nodeIds: [] }), 1, 'a run on no node still counts one');
    assert.equal(runWeight('JOIN_NODE', {}), 1);
    assert.equal(runWeight('UPDATE_DOMAIN', undefined), 1);
    assert.equal(runWeight('FAULT_NODE', { nodeIds: ['a', 'b'] }), HEALTH_RUN);
    assert.equal(runWeight('RECOVER_NODE', {}), HEALTH_RUN);
    assert.equal(runWeight('ADD_NODE', {}), 0);
    assert.equal(runWeight('REMOVE_NODE', {}), 0);
  });
});

for (const backend of testBackends()) {
  describe(`pipeline engine's budget of domain-nodes on ${backend}`, () => {
    let tdb: TestDatabase;
    let database: Database;
    let engine: PipelineEngine;
    const started: string[] = [];
    const gates = new Map<string, Promise<void>>();
    const opens = new Map<string, () => void>();
    const gate = (key: string) => gates.set(key, new Promise<void>((r) => opens.set(key, r)));
    const status = (id: string) => runStatus(database, id);
    const start = (s: PipelineSpec) => startRun(engine, database, s);

    before(async () => {
      tdb = await createTestDatabase(backend);
      database = await tdb.open();
      await migrate(database.db);
      engine = new PipelineEngine({ database, log: createLogger('silent'), metrics: createMetrics(), handlers: gatedHandlers(started, gates), maxDomainNodes: 10, maxHealthRuns: 2 });
      await engine.start();
    });
    after(async () => {
      for (const open of opens.values()) open();
      await engine?.stop();
      await database?.close();
      await tdb?.cleanup();
    });

    /** Nothing left held. A run's status commits before the engine lets go of it: the release is waited for first. */
    const drained = async () => {
      await waitFor('the engine to let go of every run', () => engine.load().executing === 0);
      assert.deepEqual(engine.load(), { executing: 0, waiting: 0, domainNodes: 0 });
    };

    it('holds domain runs past the budget as pending, oldest first, lets node runs through, and runs one larger than the budget alone', async () => {
      for (const k of ['a', 'b', 'c', 'node', 'big']) gate(k);
      const a = await start(runOf('ADD_DOMAIN', 'a.budget.example', 'a', 6));
      await waitFor('a to start', () => started.includes('a'));
      const b = await start(runOf('ADD_DOMAIN', 'b.budget.example', 'b', 6));
      const c = await start(runOf('UPDATE_DOMAIN', 'c.budget.example', 'c', 3)); // would fit, but b is older
      assert.deepEqual(engine.load(), { executing: 1, waiting: 2, domainNodes: 6 });
      assert.equal(await status(b), 'pending');
      assert.equal(await status(c), 'pending');

      // A failover does not queue behind a rollout.
      const fault = await start(runOf('FAULT_NODE', 'nod_budget', 'node', 500));
      await waitFor('the node run to start while the budget is full', () => started.includes('node'));
      assert.deepEqual(engine.load(), { executing: 2, waiting: 2, domainNodes: 6 });

      // A run the orphan scan finds (created, never dispatched here) is weighed from its row: it queues too.
      const big = await engine.enqueue(database.db, runOf('ADD_DOMAIN', 'big.budget.example', 'big', 20));
      await engine.resumeOrphans();
      assert.equal(engine.load().waiting, 3);

      opens.get('a')!();
      await waitFor('b and c to start once a is done', () => started.includes('b') && started.includes('c'));
      assert.ok(started.indexOf('b') < started.indexOf('c'), 'oldest first');
      assert.equal(await status(a), 'succeeded');
      assert.deepEqual(engine.load(), { executing: 3, waiting: 1, domainNodes: 9 });
      assert.ok(!started.includes('big'), 'twenty domain-nodes wait for the budget to empty');

      opens.get('b')!();
      opens.get('c')!();
      await waitFor('big to start alone', () => started.includes('big'));
      assert.deepEqual(engine.load(), { executing: 2, waiting: 0, domainNodes: 20 });
      opens.get('big')!();
      opens.get('node')!();
      for (const id of [b, c, fault, big]) await waitFor(`${id} to succeed`, async () => (await status(id)) === 'succeeded');
      await drained();
    });

    it('holds health runs past their own limit in the order they came, never behind or in front of domain runs, and never ADD_NODE', async () => {
      for (const k of ['n1', 'n2', 'n3', 'n4', 'd', 'add']) gate(k);
      const n1 = await start(runOf('FAULT_NODE', 'nod_limit1', 'n1', 0));
      const n2 = await start(runOf('RECOVER_NODE', 'nod_limit2', 'n2', 0));
      await waitFor('two node runs to start', () => started.includes('n1') && started.includes('n2'));
      const n3 = await start(runOf('FAULT_NODE', 'nod_limit3', 'n3', 0));
      const n4 = await start(runOf('RECOVER_NODE', 'nod_limit4', 'n4', 0));
      assert.deepEqual(engine.load(), { executing: 2, waiting: 2, domainNodes: 0 });
      assert.equal(await status(n3), 'pending');

      const d = await start(runOf('ADD_DOMAIN', 'd.limit.example', 'd', 3));
      await waitFor('a domain run to start while health runs wait', () => started.includes('d'));
      // An ADD_NODE may wait an hour for its agent: it is never held, and never holds a failover back.
      const add = await start(runOf('ADD_NODE', 'nod_limit5', 'add', 0));
      await waitFor('an ADD_NODE to start while health runs wait', () => started.includes('add'));
      assert.equal(engine.load().waiting, 2);

      opens.get('n2')!();
      await waitFor('the first waiting node run to start', () => started.includes('n3'));
      assert.ok(!started.includes('n4'), 'one left, one in');
      assert.equal(await status(n2), 'succeeded');
      for (const k of ['n1', 'n3', 'n4', 'd', 'add']) opens.get(k)!();
      for (const id of [n1, n3, n4, d, add]) await waitFor(`${id} to succeed`, async () => (await status(id)) === 'succeeded');
      assert.ok(started.indexOf('n3') < started.indexOf('n4'), 'in the order they came');
      await drained();
    });
  });
}

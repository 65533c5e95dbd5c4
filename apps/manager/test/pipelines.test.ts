import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../src/db/client.ts';
import { migrate, rowsOf } from '../src/db/migrate.ts';
import { nodes, pipelines, runSteps } from '../src/db/schema.ts';
import { handOver } from '../src/domains/steps.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics.ts';
import { PipelineEngine } from '../src/pipelines/engine.ts';
import { NO_RETRY, RETRY, STEP_PARAMS, type PipelineKind, type PipelineSpec, type RetryPolicy, type StepContext, type StepName, type StepSpec, type StoredStepHandlers } from '../src/pipelines/types.ts';
import { createTestDatabase, testBackends, type TestDatabase } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { runStatus, startRun as startRunOn } from './engine-runs.ts';

type Scripted = { key: string; memo?: string };
type ScriptedHandler = (ctx: StepContext, params: Scripted) => Promise<void>;

/**
 * Step handlers the tests steer: each step's params name what it does. The engine runs whatever handler the map
 * gives a step name with the parameters stored for it, so the tests script the seed's step names with their own.
 */
function scriptedHandlers(calls: string[], gates: Map<string, Promise<void>>, failures: Map<string, number>): StoredStepHandlers {
  const run: ScriptedHandler = async (_ctx, params) => {
    const key = String(params.key);
    calls.push(key);
    await gates.get(key);
    const left = failures.get(key) ?? 0;
    if (left > 0) {
      failures.set(key, left - 1);
      throw new Error(`${key} failed on purpose`);
    }
  };
  // Reads through the run's memo: `loads` counts the loads per key; a key in `failLoads` fails its first load.
  const memoized: ScriptedHandler = async (ctx, params) => {
    const key = String(params.key);
    calls.push(key);
    await ctx.memo(String(params.memo), async () => {
      loads.set(String(params.memo), (loads.get(String(params.memo)) ?? 0) + 1);
      if (failLoads.delete(String(params.memo))) throw new Error('load failed on purpose');
      return 1;
    });
  };
  const handlers = Object.fromEntries(Object.keys(STEP_PARAMS).map((name) => [name, name === 'OCDN_MAKE_CONF' ? memoized : run]));
  return handlers as StoredStepHandlers;
}

/** A scripted step: a seed step name carrying the test's own parameters. */
const scripted = (name: StepName, target: string, params: Scripted, policy: RetryPolicy, group?: string): StepSpec => ({ name, target, group, params, policy }) as unknown as StepSpec;
/** Makes scripted steps with `policy`: `step(key, group)`, or `step(key)` for a step of the whole run. */
const stepsWith = (policy: RetryPolicy) => (key: string, group?: string) => scripted('OCDN_NODE_STATUS', key, { key }, policy, group);
const loads = new Map<string, number>();
const failLoads = new Set<string>();

const spec = (subject: string, keys: string[], policy = NO_RETRY): PipelineSpec => ({
  kind: 'ADD_NODE',
  subject,
  input: {},
  steps: keys.map((key) => scripted('OCDN_NODE_STATUS', key, { key }, policy)),
});

for (const backend of testBackends()) {
  describe(`pipeline engine on ${backend}`, () => {
    let tdb: TestDatabase;
    let database: Database;
    let engine: PipelineEngine;
    const calls: string[] = [];
    const gates = new Map<string, Promise<void>>();
    const failures = new Map<string, number>();
    const handedOver = new Set<string>();

    const status = (id: string) => runStatus(database, id);
    const steps = (id: string) => database.db.select().from(runSteps).where(eq(runSteps.pipelineId, id)).orderBy(runSteps.idx);
    const startRun = (s: PipelineSpec) => startRunOn(engine, database, s);

    before(async () => {
      tdb = await createTestDatabase(backend);
      database = await tdb.open();
      await migrate(database.db);
      engine = new PipelineEngine({
        database,
        log: createLogger('silent'),
        metrics: createMetrics(),
        handlers: scriptedHandlers(calls, gates, failures),
        // A key in `handedOver` stands for a step whose node went `fault` meanwhile.
        handOver: {
          reason: async (_run, step) => (handedOver.has(String(step.params.key)) ? `${String(step.params.key)}'s node is fault` : null),
          skipsRest: (kind) => kind === 'ADD_DOMAIN',
        },
      });
      await engine.start();
    });
    after(async () => {
      await engine?.stop();
      await database?.close();
      await tdb?.cleanup();
    });

    it('runs the steps in order and records the outcome', async () => {
      const id = await startRun(spec('s-order', ['a1', 'a2', 'a3']));
      await waitFor('succeeded', async () => (await status(id)) === 'succeeded');
      assert.deepEqual(calls.filter((c) => c.startsWith('a')), ['a1', 'a2', 'a3']);
      const rows = await steps(id);
      assert.ok(rows.every((r) => r.status === 'succeeded' && r.attempts === 1 && r.finishedAt));
    });

    it('commits the outcomes of many steps finishing together (group commit), each row its own', async () => {
      const ids = await Promise.all(Array.from({ length: 20 }, (_, r) => startRun(spec(`s-many-${r}`, Array.from({ length: 15 }, (_, i) => `m${r}-${i}`)))));
      await waitFor('all succeeded', async () => (await Promise.all(ids.map(status))).every((s) => s === 'succeeded'), { timeoutMs: 30_000 });
      for (const id of ids) {
        const rows = await steps(id);
        assert.equal(rows.length, 15);
        assert.ok(rows.every((r) => r.status === 'succeeded' && r.attempts === 1 && r.error === null && r.startedAt && r.finishedAt));
      }
    });

    it('shares a memoized read between the steps of one execution, and reads again after a failed load', async () => {
      const memoSpec = (subject: string, memo: string, policy = NO_RETRY): PipelineSpec => ({
        kind: 'ADD_NODE',
        subject,
        input: {},
        steps: ['x1', 'x2', 'x3'].map((key) => scripted('OCDN_MAKE_CONF', key, { key: `${subject}-${key}`, memo }, policy)),
      });
      const [a, b] = [`${backend}:domain:a`, `${backend}:domain:b`];
      const once = await startRun(memoSpec('s-memo', a));
      await waitFor('succeeded', async () => (await status(once)) === 'succeeded');
      assert.equal(loads.get(a), 1, 'three steps, one load');
      failLoads.add(b);
      const retried = await startRun(memoSpec('s-memo-fail', b, RETRY));
      await waitFor('succeeded', async () => (await status(retried)) === 'succeeded');
      assert.equal(loads.get(b), 2, 'the failed load is not kept');
    });

    it('retries a retryable step with backoff until it succeeds', async () => {
      failures.set('b1', 2);
      const id = await startRun(spec('s-retry', ['b1', 'b2'], RETRY));
      await waitFor('succeeded', async () => (await status(id)) === 'succeeded');
      const [b1] = await steps(id);
      assert.equal(b1!.attempts, 3);
      assert.equal(b1!.error, null);
    });

    it('fails at a non-retryable step with its error, and resumes there on retry', async () => {
      failures.set('c2', 1);
      const id = await startRun(spec('s-fail', ['c1', 'c2', 'c3']));
      await waitFor('failed', async () => (await status(id)) === 'failed');
      const rows = await steps(id);
      assert.deepEqual(rows.map((r) => r.status), ['succeeded', 'failed', 'pending']);
      assert.equal(rows[1]!.error, 'c2 failed on purpose');
      assert.ok(await engine.retry(id));
      await waitFor('succeeded after retry', async () => (await status(id)) === 'succeeded');
      assert.deepEqual(calls.filter((c) => c.startsWith('c')), ['c1', 'c2', 'c2', 'c3'], 'c1 is not run again');
      assert.equal(await engine.retry(id), false, 'a succeeded run is not retried');
    });

    it('runs pipelines of one subject one at a time, oldest first, and other subjects alongside', async () => {
      let open!: () => void;
      gates.set('d1', new Promise<void>((r) => (open = r)));
      const first = await startRun(spec('s-serial', ['d1']));
      await waitFor('first running', () => calls.includes('d1'));
      const second = await startRun(spec('s-serial', ['d2']));
      const other = await startRun(spec('s-other', ['e1']));
      await waitFor('other subject done', async () => (await status(other)) === 'succeeded');
      assert.equal(await status(second), 'pending');
      assert.ok(!calls.includes('d2'));
      open();
      await waitFor('second done', async () => (await status(second)) === 'succeeded');
      assert.equal(await status(first), 'succeeded');
      assert.ok(calls.indexOf('d1') < calls.indexOf('d2'));
    });

    it('takes over a run whose executor died (expired lease) at the step it was in', async () => {
      const id = await engine.enqueue(database.db, spec('s-orphan', ['f1', 'f2', 'f3']));
      // What a replica killed in the middle of f2 leaves behind.
      await database.db.execute(sql`update pipelines set status = 'running', lease_owner = 'dead-replica', lease_until = now() - interval '1 second' where id = ${id}`);
      await database.db.execute(sql`insert into pipeline_steps (pipeline_id, idx, status, attempts) values (${id}, 0, 'succeeded', 1), (${id}, 1, 'running', 1)`);
      assert.equal(await engine.resumeOrphans() >= 1, true);
      await waitFor('resumed run done', async () => (await status(id)) === 'succeeded');
      assert.deepEqual(calls.filter((c) => c.startsWith('f')), ['f2', 'f3']);
      const rows = await steps(id);
      assert.equal(rows[1]!.attempts, 2);
    });

    it("writes each run it starts a safety-net job in pg-boss's queue, due 15 s later", async () => {
      const ids = await Promise.all(['sn1', 'sn2', 'sn3'].map((k) => startRun(spec(`s-${k}`, [k]))));
      const jobs = rowsOf<{ id: string; after: number }>(
        await database.db.execute(sql`
          select singleton_key as id, extract(epoch from start_after - created_on)::float8 as after from pgboss.job
          where name = 'ocdn-pipeline' and singleton_key in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`),
      );
      assert.deepEqual(jobs.map((j) => j.id).sort(), [...ids].sort());
      for (const j of jobs) assert.ok(Math.abs(Number(j.after) - 15) < 1, `due ${j.after} s after it was written`);
    });

    it('runs a run it wrote from its stored steps once one of them started before its claim', async () => {
      // The replica that wrote a run runs the steps it holds only while none started; here another replica ran the
      // first and let go of the run before this one's claim.
      const s = spec('s-started', ['w1', 'w2']);
      const id = await engine.enqueue(database.db, s);
      await database.db.execute(sql`insert into pipeline_steps (pipeline_id, idx, status, attempts) values (${id}, 0, 'succeeded', 1)`);
      await engine.dispatch(id, s);
      await waitFor('run done', async () => (await status(id)) === 'succeeded');
      assert.deepEqual(calls.filter((c) => c.startsWith('w')), ['w2']);
    });

    it("takes over a run whose lease this replica holds but does not execute, while it executes others", async () => {
      // A claim can commit while its caller sees an error (the database went away at the COMMIT): the lease is this
      // replica's, and nothing here executes the run. Renewing it with the runs that do execute here kept it from
      // every orphan scan for as long as any of them ran (seen as one domain stuck after a PostgreSQL restart).
      let open!: () => void;
      gates.set('busy1', new Promise<void>((r) => (open = r)));
      const busy = await startRun(spec('s-busy', ['busy1']));
      await waitFor('a run executing here', () => calls.includes('busy1'));
      const lost = await engine.enqueue(database.db, spec('s-lost', ['lost1']));
      await database.db.execute(sql`update pipelines set status = 'running', lease_owner = ${engine.owner}, lease_until = now() + interval '1 second' where id = ${lost}`);
      await waitFor('the lost run taken over and finished', async () => (await status(lost)) === 'succeeded', { timeoutMs: 20_000 });
      assert.equal(await status(busy), 'running', 'taken over while the other run still executed here');
      open();
      await waitFor('the other run done', async () => (await status(busy)) === 'succeeded');
    });

    it('runs groups side by side; a failing group holds back neither the others nor the steps after', async () => {
      failures.set('h-b2', 1);
      let open!: () => void;
      gates.set('h-a1', new Promise<void>((r) => (open = r)));
      const step = stepsWith(NO_RETRY);
      const id = await startRun({
        kind: 'ADD_DOMAIN',
        subject: 's-groups',
        input: {},
        steps: [step('h-start'), step('h-a1', 'a'), step('h-a2', 'a'), step('h-b1', 'b'), step('h-b2', 'b'), step('h-b3', 'b'), step('h-end')],
      });
      await waitFor('group b to fail while a waits', () => calls.includes('h-b2'));
      assert.ok(!calls.includes('h-a2'), 'group a is still in its first step');
      open();
      await waitFor('run to end', async () => (await status(id)) === 'failed');
      const rows = await steps(id);
      assert.deepEqual(rows.map((r) => r.status), ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed', 'pending', 'succeeded']);
      assert.ok(calls.indexOf('h-a1') < calls.indexOf('h-a2'));
      assert.ok(calls.includes('h-end'), 'steps after the block ran for the group that succeeded');
      assert.ok(await engine.retry(id));
      await waitFor('retried run done', async () => (await status(id)) === 'succeeded');
      assert.deepEqual(calls.filter((c) => c === 'h-b2' || c === 'h-b3' || c === 'h-end' || c === 'h-a1'), ['h-a1', 'h-b2', 'h-end', 'h-b2', 'h-b3']);
    });

    it("skips the rest of a group whose step failed after its node went fault; the run succeeds by the others", async () => {
      failures.set('k-b1', 1);
      handedOver.add('k-b1');
      const step = stepsWith(RETRY);
      const id = await startRun({
        kind: 'ADD_DOMAIN',
        subject: 's-handed',
        input: {},
        steps: [step('k-start'), step('k-a1', 'a'), step('k-a2', 'a'), step('k-b1', 'b'), step('k-b2', 'b'), step('k-b3', 'b'), step('k-end')],
      });
      await waitFor('run to succeed', async () => (await status(id)) === 'succeeded');
      const rows = await steps(id);
      assert.deepEqual(rows.map((r) => r.status), ['succeeded', 'succeeded', 'succeeded', 'skipped', 'skipped', 'skipped', 'succeeded']);
      assert.equal(rows[3]!.attempts, 1, 'no retry against a node that is gone');
      assert.match(rows[3]!.error!, /k-b1's node is fault \(this attempt: k-b1 failed on purpose\)/);
      assert.match(rows[4]!.error!, /skipped with OCDN_NODE_STATUS on this node/);
      assert.ok(!calls.includes('k-b2') && !calls.includes('k-b3'), 'the rest of the group is not run');
      assert.ok(calls.includes('k-end'));
      handedOver.delete('k-b1');
    });

    it('runs the rest of a group on after a handed-over step when the run kind says so (REMOVE_DOMAIN)', async () => {
      failures.set('n-a2', 1);
      handedOver.add('n-a2');
      const step = stepsWith(RETRY);
      const id = await startRun({ kind: 'REMOVE_DOMAIN', subject: 's-run-on', input: {}, steps: [step('n-a1', 'a'), step('n-a2', 'a'), step('n-a3', 'a'), step('n-end')] });
      await waitFor('run to succeed', async () => (await status(id)) === 'succeeded');
      assert.deepEqual((await steps(id)).map((r) => r.status), ['succeeded', 'skipped', 'succeeded', 'succeeded']);
      assert.ok(calls.includes('n-a3'));
      handedOver.delete('n-a2');
    });

    it('hands over what a fault node cannot do: the rest of a domain on it to RECOVER_NODE, a removal to drift repair', async () => {
      const policy = handOver({ db: database.db });
      const node = { id: `nod_handover_${backend}`, name: `handover-${backend}`, ip: '127.0.9.9', roles: ['cdn' as const], agentPort: 1, token: 't', tokenHash: 'h' };
      await database.db.insert(nodes).values({ ...node, status: 'normal' });
      const ask = (kind: PipelineKind, name: string) => policy.reason({ kind, subject: 'd.example.com' }, { name, params: { nodeId: node.id, domain: 'd.example.com' } });
      assert.equal(await ask('ADD_DOMAIN', 'OCDN_SYNC_CONF'), null, 'a normal node keeps its steps');
      await database.db.update(nodes).set({ status: 'fault' }).where(eq(nodes.id, node.id));
      for (const kind of ['ADD_DOMAIN', 'JOIN_NODE', 'UPDATE_DOMAIN'] as const) {
        assert.equal(await ask(kind, 'OCDN_SYNC_CONF'), 'node 127.0.9.9 is fault: its recovery (RECOVER_NODE) brings d.example.com to it', kind);
        assert.equal(policy.skipsRest(kind), true);
      }
      assert.match((await ask('REMOVE_DOMAIN', 'OCDN_DEL_CONF'))!, /deleted once it has recovered \(drift repair\)/);
      assert.equal(policy.skipsRest('REMOVE_DOMAIN'), false);
      assert.equal(await ask('REMOVE_DOMAIN', 'OCDN_DEL_DNS'), null, 'DNS is changed without the agent');
      assert.equal(await ask('FAULT_NODE', 'OCDN_DEL_DNS'), null);
      assert.equal(await ask('RECOVER_NODE', 'OCDN_SYNC_CONF'), null, 'a recovery is never handed to itself');
    });

    it('fails a run none of whose groups is done when every node went, and runs the skipped steps again on retry', async () => {
      for (const k of ['l-a1', 'l-b1']) {
        failures.set(k, 1);
        handedOver.add(k);
      }
      const step = stepsWith(NO_RETRY);
      const id = await startRun({ kind: 'ADD_DOMAIN', subject: 's-all-gone', input: {}, steps: [step('l-a1', 'a'), step('l-a2', 'a'), step('l-b1', 'b'), step('l-end')] });
      await waitFor('run to fail', async () => (await status(id)) === 'failed');
      assert.deepEqual((await steps(id)).map((r) => r.status), ['skipped', 'skipped', 'skipped', 'pending']);
      handedOver.clear(); // the nodes are back
      assert.ok(await engine.retry(id));
      await waitFor('retried run done', async () => (await status(id)) === 'succeeded');
      assert.deepEqual((await steps(id)).map((r) => r.status), ['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      const ran = calls.filter((c) => c.startsWith('l-'));
      assert.deepEqual(ran.slice(0, 2).sort(), ['l-a1', 'l-b1'], 'the first attempts, the groups side by side');
      assert.deepEqual(ran.slice(2).sort(), ['l-a1', 'l-a2', 'l-b1', 'l-end'], 'after the retry: each skipped step once, and the end');
    });

    it('sleeps many groups\' backoffs on one run without a listener warning', async () => {
      // A domain fanned out to a dozen nodes that all time out at once: each group waits out its backoff on the run's
      // abort signal. Twelve listeners on one signal are expected here; Node's warning past ten would be journal noise.
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);
      try {
        const keys = Array.from({ length: 12 }, (_, i) => `k-${i}`);
        for (const k of keys) failures.set(k, 1);
        const id = await startRun({ kind: 'ADD_DOMAIN', subject: 's-backoffs', input: {}, steps: keys.map((k) => scripted('OCDN_NODE_STATUS', k, { key: k }, RETRY, k)) });
        await waitFor('succeeded', async () => (await status(id)) === 'succeeded');
        assert.equal((await steps(id)).filter((r) => r.attempts === 2).length, 12, 'every group retried once');
        await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
        assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('fails the run when every group of a block fails', async () => {
      failures.set('i-a', 1);
      failures.set('i-b', 1);
      const step = stepsWith(NO_RETRY);
      const id = await startRun({ kind: 'ADD_DOMAIN', subject: 's-allfail', input: {}, steps: [step('i-a', 'a'), step('i-b', 'b'), step('i-end')] });
      await waitFor('failed', async () => (await status(id)) === 'failed');
      assert.ok(!calls.includes('i-end'));
    });

    it('stops at once with a run it was still claiming, and leaves that run for whoever looks next', async () => {
      // A second engine on the same database, stopped while its run's lease is being claimed: stop() must not wait
      // for a run that started after it aborted the others (that run retries a failing step for minutes).
      const second = new PipelineEngine({ database, log: createLogger('silent'), metrics: createMetrics(), handlers: scriptedHandlers(calls, gates, failures) });
      await second.start();
      failures.set('j1', 1_000);
      const id = await second.enqueue(database.db, spec('s-stopping', ['j1'], RETRY));
      second.kick(id, 0);
      let stopped = false;
      void second.stop().then(() => (stopped = true));
      await waitFor('stop() to return', () => stopped, { timeoutMs: 10_000 });
      const [row] = await database.db.select().from(pipelines).where(eq(pipelines.id, id));
      assert.notEqual(row!.status, 'failed', 'a stopping manager does not fail the run');
      assert.equal(row!.leaseOwner, null, 'the lease is let go');
      failures.delete('j1');
      await engine.resumeOrphans();
      await waitFor('the run to end on the other engine', async () => (await status(id)) === 'succeeded');
    });

    it('stops at once with a run waiting out a long backoff', async () => {
      const second = new PipelineEngine({ database, log: createLogger('silent'), metrics: createMetrics(), handlers: scriptedHandlers(calls, gates, failures) });
      await second.start();
      failures.set('l1', 1);
      const minute: RetryPolicy = { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 60_000, deadlineMs: 600_000 };
      const id = await second.enqueue(database.db, spec('s-backoff-stop', ['l1'], minute));
      second.kick(id, 0);
      await waitFor('l1 to fail once', () => calls.includes('l1'));
      await waitFor('the backoff to start', async () => (await steps(id))[0]!.attempts === 1);
      let stopped = false;
      void second.stop().then(() => (stopped = true));
      await waitFor('stop() to return well before the backoff ends', () => stopped, { timeoutMs: 5_000 });
      await engine.resumeOrphans();
      await waitFor('the run to end on the other engine', async () => (await status(id)) === 'succeeded');
    });

    it('leaves a run alone while another replica holds a live lease', async () => {
      const id = await engine.enqueue(database.db, spec('s-held', ['g1']));
      await database.db.execute(sql`update pipelines set status = 'running', lease_owner = 'other-replica', lease_until = now() + interval '1 hour' where id = ${id}`);
      engine.kick(id, 0);
      await engine.settled(id);
      assert.ok(!calls.includes('g1'));
      assert.equal(await status(id), 'running');
    });
  });
}

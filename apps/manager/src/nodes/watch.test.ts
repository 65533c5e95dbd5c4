// The health watch thread's decisions on the embedded database: the manager's thread takes one as an operation of
// the database ends (db/pglite-lanes.ts), without waiting for the event loop to read the thread's messages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { freePort, startAgentProcess, type Proc } from '../../../../test/support/procs.ts';
import { waitFor } from '../../../../test/support/wait.ts';
import type { ManagerContext } from '../context.ts';
import { openDatabase, type Database } from '../db/client.ts';
import { parseManagerEnv } from '../env.ts';
import { createLogger } from '../log.ts';
import { HealthWatch } from './watch.ts';
import type { Decided } from './watch-messages.ts';

describe('the health watch thread on the embedded database', () => {
  let database: Database;
  let agent: Proc | undefined;
  let watch: HealthWatch | undefined;
  before(async () => {
    database = await openDatabase({ memory: true });
  });
  after(async () => {
    await watch?.stop();
    await agent?.stop();
    await database?.close();
  });

  it("hands a dead agent's decision over when an operation of the database ends, inside the event loop's turn", async () => {
    const port = await freePort();
    const token = 'nod_watched1.watch-test-secret-0123456789';
    // The manager it names is not there: the agent serves its API (and the heartbeat stream) all the same.
    agent = startAgentProcess(`http://127.0.0.1:${await freePort()}`, token, '127.0.0.1', port);
    const decided: { m: Decided; turned: boolean }[] = [];
    let turned = false;
    const ctx = {
      // The decision's raise of this thread is not what is tested: off.
      env: parseManagerEnv({ OCDN_DNS_NICE: 'off', OCDN_DNS_RT_PRIORITY: 'off' }),
      database,
      dns: { server: undefined },
      log: createLogger('silent'),
    } as unknown as ManagerContext;
    watch = new HealthWatch(ctx, (m) => decided.push({ m, turned }));
    watch.lead(true);
    watch.watch([{ id: 'nod_watched1', ip: '127.0.0.1', agentPort: port, token, tls: false }]);
    await waitFor('the thread holds the agent\'s heartbeat stream', () => watch!.streams === 1, { timeoutMs: 20_000 });

    // From the kill on, this thread runs one transaction and does not let the event loop turn: it spins until the
    // watch thread has handed the decision over (a deadline, not a sleep), and the operation then ends.
    setImmediate(() => (turned = true));
    agent.child.kill('SIGKILL');
    const w = watch;
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      const deadline = Date.now() + 10_000;
      while (!w.handedOver && Date.now() < deadline); // synchronous: the event loop stays in this turn
      assert.ok(w.handedOver, 'the watch thread handed no decision over within 10 s of the kill');
    });
    assert.equal(decided.length, 1, 'taken when the transaction ended');
    assert.equal(decided[0]!.turned, false, 'before the event loop turned');
    assert.equal(decided[0]!.m.nodeId, 'nod_watched1');
    assert.match(decided[0]!.m.reason, /nothing answers a connection to its port/);
    assert.equal(w.handedOver, false);
    // Not a second time by the port's own message.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(decided.length, 1);
  });
});

// On the embedded database an admin's reads (GET, HEAD) run ahead of the pipelines' queued statements, and writes
// keep their turn (db/interactive.ts, the interactive lane of db/pglite-lanes.ts). PostgreSQL has connections enough
// and no such lane.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { startHarness, type Harness } from './harness.ts';

describe('an admin\'s reads on the embedded database', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('pglite');
  });
  after(() => h?.close());

  /** Queues `n` statements of a millisecond or so on the normal lane, as a rollout's pipelines do; `done()` counts those finished. */
  function backlog(n: number): { all: Promise<unknown>; done: () => number } {
    let done = 0;
    const all = Promise.all(Array.from({ length: n }, () => h.database.db.execute(sql`select count(*) from generate_series(1, 5000)`).then(() => done++)));
    return { all, done: () => done };
  }

  it('answers a GET ahead of the statements already waiting', async () => {
    const queue = backlog(300);
    const r = await h.call('GET', '/api/v1/nodes');
    const doneWhenAnswered = queue.done();
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await queue.all;
    assert.ok(doneWhenAnswered < 50, `the GET was answered after ${doneWhenAnswered} of 300 queued statements`);
  });

  it('lets a write wait for the statements asked for before it', async () => {
    const queue = backlog(300);
    const r = await h.call('POST', '/api/v1/tokens', { name: `write-${Date.now()}`, role: 'viewer' });
    const doneWhenAnswered = queue.done();
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await queue.all;
    assert.equal(doneWhenAnswered, 300, `the POST was answered after ${doneWhenAnswered} of 300 queued statements`);
  });
});

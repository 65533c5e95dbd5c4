import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from './client.ts';
import { asInteractive } from './interactive.ts';
import { Lanes } from './pglite-lanes.ts';
import { rowsOf } from './migrate.ts';

describe('the embedded database\'s urgent lane', () => {
  let database: Database;
  before(async () => {
    database = await openDatabase({ memory: true });
  });
  after(() => database?.close());

  it('runs an urgent statement next, ahead of the statements already waiting', async () => {
    const done: string[] = [];
    const normal = Array.from({ length: 40 }, (_, i) => database.db.execute(sql`select ${i}::int as i`).then(() => done.push(`n${i}`)));
    const urgent = database.urgent.execute(sql`select 1`).then(() => done.push('urgent'));
    await Promise.all([...normal, urgent]);
    // the first normal statement was let through before the urgent one was asked for; the urgent one is next
    assert.ok(done.indexOf('urgent') <= 1, `urgent finished at ${done.indexOf('urgent')}: ${done.slice(0, 5).join(' ')}`);
    assert.deepEqual(done.filter((d) => d !== 'urgent'), normal.map((_, i) => `n${i}`), 'the others keep their order');
  });

  it('runs an urgent statement asked for after the next normal one was scheduled ahead of it', async () => {
    const done: string[] = [];
    const normal = Array.from({ length: 10 }, (_, i) => database.db.execute(sql`select ${i}::int as i`).then(() => done.push(`n${i}`)));
    // n0 has finished and n1's turn is scheduled (the next turn of the event loop) when this asks.
    await normal[0];
    const urgent = database.urgent.execute(sql`select 1`).then(() => done.push('urgent'));
    await Promise.all([...normal, urgent]);
    assert.deepEqual(done.slice(0, 2), ['n0', 'urgent'], `order: ${done.slice(0, 4).join(' ')}`);
  });

  it('lets timers and sockets run while a queue of statements drains', async () => {
    let done = 0;
    const queue = Array.from({ length: 200 }, (_, i) => database.db.execute(sql`select ${i}::int as i`).then(() => done++));
    // a timer due at once, asked for after the queue: it fires early in the queue, not after the last statement
    const doneWhenTimerRan = await new Promise<number>((r) => setTimeout(() => r(done), 0));
    await Promise.all(queue);
    assert.ok(doneWhenTimerRan < 50, `the timer ran after ${doneWhenTimerRan} of 200 statements`);
  });

  it('waits for a transaction in progress, never cuts into it', async () => {
    const seen: string[] = [];
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    let finish!: () => void;
    const held = new Promise<void>((r) => (finish = r));
    const tx = database.db.transaction(async (t) => {
      await t.execute(sql`select 1`);
      inside();
      await held;
      await t.execute(sql`select 2`);
      seen.push('tx');
    });
    await entered;
    const urgent = database.urgent.execute(sql`select 3`).then(() => seen.push('urgent'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, []);
    finish();
    await Promise.all([tx, urgent]);
    assert.deepEqual(seen, ['tx', 'urgent']);
  });

  it('writes through the urgent lane in transactions of its own that commit and roll back', async () => {
    await database.db.execute(sql`create table lane_t (v int)`);
    await database.urgent.transaction(async (tx) => {
      await tx.execute(sql`insert into lane_t values (1)`);
    });
    await assert.rejects(
      database.urgent.transaction(async (tx) => {
        await tx.execute(sql`insert into lane_t values (2)`);
        throw new Error('rolled back on purpose');
      }),
      /on purpose/,
    );
    assert.deepEqual(rowsOf<{ v: number }>(await database.db.execute(sql`select v from lane_t`)), [{ v: 1 }]);
  });

  it('runs an admin\'s read ahead of the statements already waiting, behind an urgent one', async () => {
    const done: string[] = [];
    const normal = Array.from({ length: 40 }, (_, i) => database.db.execute(sql`select ${i}::int as i`).then(() => done.push(`n${i}`)));
    const read = asInteractive(() => database.db.execute(sql`select 'read'`)).then(() => done.push('read'));
    const urgent = database.urgent.execute(sql`select 1`).then(() => done.push('urgent'));
    // Outside asInteractive the same client takes the normal lane again.
    const later = database.db.execute(sql`select 'later'`).then(() => done.push('later'));
    await Promise.all([...normal, read, urgent, later]);
    assert.ok(done.indexOf('urgent') <= 1, `urgent finished at ${done.indexOf('urgent')}: ${done.slice(0, 5).join(' ')}`);
    assert.ok(done.indexOf('read') <= 2 && done.indexOf('read') > done.indexOf('urgent'), `the read finished at ${done.indexOf('read')}: ${done.slice(0, 5).join(' ')}`);
    assert.equal(done.at(-1), 'later');
    assert.deepEqual(done.filter((d) => d.startsWith('n')), normal.map((_, i) => `n${i}`), 'the others keep their order');
  });

  it('lets the next operation go after one fails', async () => {
    const lanes = new Lanes();
    const failed = lanes.run('normal', async () => {
      throw new Error('failed on purpose');
    });
    const next = lanes.run('urgent', async () => 'ran');
    await assert.rejects(failed, /on purpose/);
    assert.equal(await next, 'ran');
    assert.equal(lanes.waiting, 0);
  });
});

describe('the lanes between operations', () => {
  it('start an urgent operation asked for between two, before the next turn of the event loop', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    let urgent: Promise<unknown> | undefined;
    const first = lanes.run('normal', async () => {
      // due before the next operation's turn (scheduled when this one ends)
      setImmediate(() => order.push('turn'));
      order.push('n0');
    });
    const second = lanes.run('normal', async () => order.push('n1'));
    void first.then(() => (urgent = lanes.run('urgent', async () => order.push('urgent'))));
    await Promise.all([first, second]);
    await urgent;
    assert.deepEqual(order, ['n0', 'urgent', 'turn', 'n1']);
    assert.equal(lanes.waiting, 0);
  });

  it('start an operation asked for once another ended on a later turn of the event loop, even with none waiting', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    const chained = await lanes.run('normal', async () => {
      setImmediate(() => order.push('turn'));
      order.push('a');
    }).then(() => lanes.run('normal', async () => order.push('b')));
    assert.equal(chained, 3);
    assert.deepEqual(order, ['a', 'turn', 'b']);
    // an idle lane with no operation since the last turn lets one go at once
    await new Promise((r) => setImmediate(r));
    let started = false;
    const now = lanes.run('normal', async () => (started = true));
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(started, true);
    await now;
  });

  it('call their hook as each operation ends, where an urgent operation it asks for goes next', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    let asked = false;
    const urgents: Promise<unknown>[] = [];
    const remove = lanes.between(() => {
      order.push('hook');
      if (asked) return;
      asked = true;
      queueMicrotask(() => urgents.push(lanes.run('urgent', async () => order.push('urgent'))));
    });
    const normal = [0, 1].map((i) =>
      lanes.run('normal', async () => {
        order.push(`n${i}`);
      }),
    );
    await Promise.all(normal);
    await Promise.all(urgents);
    assert.deepEqual(order, ['n0', 'hook', 'urgent', 'hook', 'n1', 'hook']);
    remove();
    await lanes.run('normal', async () => order.push('n2'));
    assert.equal(order.at(-1), 'n2', 'a hook removed is not called');
  });

  it('let a waiting normal operation go after eight interactive ones in a row', async () => {
    const lanes = new Lanes();
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = lanes.run('normal', () => held);
    const ops = [
      ...[1, 2, 3].map((i) => lanes.run('normal', async () => order.push(`n${i}`))),
      ...Array.from({ length: 20 }, (_, i) => lanes.run('interactive', async () => order.push(`i${i}`))),
    ];
    release();
    await Promise.all([first, ...ops]);
    const i = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `i${from + k}`);
    assert.deepEqual(order, [...i(0, 8), 'n1', ...i(8, 16), 'n2', ...i(16, 20), 'n3']);
    assert.equal(lanes.waiting, 0);
  });

  it('keep going when a hook throws, and the operation keeps its own outcome', async () => {
    const lanes = new Lanes();
    lanes.between(() => {
      throw new Error('hook failed on purpose');
    });
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    const results = await Promise.all([lanes.run('normal', async () => 1), lanes.run('normal', async () => 2)]);
    assert.deepEqual(results, [1, 2]);
    const warning = await warned;
    assert.equal(warning.name, 'LanesHookWarning');
    assert.match(warning.message, /hook failed on purpose/);
  });
});

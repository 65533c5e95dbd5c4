// GET /api/v1/events over real HTTP: events for nodes, pipelines and forward zones as their GET shows them, resume
// with Last-Event-ID, reset when resuming cannot be done, a change made on one replica seen by the clients of
// another (PostgreSQL), a slow client dropped rather than buffered without end, a revoked token's stream ended.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createLogger } from '../src/log.ts';
import { openDatabase } from '../src/db/client.ts';
import { parseManagerEnv } from '../src/env.ts';
import { startManager } from '../src/start-manager.ts';
import { openSse } from '../../../test/support/sse.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { ADMIN, startHarness, type Harness } from './harness.ts';

const backends = (['pglite', 'postgres'] as const).filter((b) => b === 'pglite' || process.env.TEST_DATABASE_URL);
const auth = { authorization: `Bearer ${ADMIN}` };

for (const backend of backends) {
  describe(`live events on ${backend}`, () => {
    let h: Harness;
    let base: string;
    before(async () => {
      h = await startHarness(backend, { OCDN_EVENTS_CLIENT_BUFFER_BYTES: '65536', OCDN_EVENTS_KEEPALIVE_S: '1' }, { listen: true });
      base = h.manager.url;
    });
    after(async () => h.close());

    it('sends nodes, pipelines and zones as their GET shows them', async () => {
      const sse = await openSse(`${base}/api/v1/events`, auth);
      try {
        const created = await h.call('POST', '/api/v1/nodes', { name: 'ev-node', ip: '127.0.0.90', roles: ['cdn'] });
        assert.equal(created.status, 201);
        const node = await sse.next('node', (e) => e.event === 'node' && e.data.name === 'ev-node');
        assert.deepEqual(node.data, (await h.call('GET', `/api/v1/nodes/${created.body.node.id}`)).body);
        const run = await sse.next('pipeline', (e) => e.event === 'pipeline' && e.data.id === created.body.pipeline.id);
        assert.equal(run.data.kind, 'ADD_NODE');
        assert.ok(Array.isArray(run.data.steps) && run.data.steps.length > 0);
        // A step's change announces its run (the trigger of drizzle/0007, inserts too since drizzle/0015): the last
        // step, which the engine does not touch before the node's agent connects, written by another writer.
        const id = created.body.pipeline.id;
        await h.database.db.execute(sql`
          insert into pipeline_steps (pipeline_id, idx, status, error)
          select id, jsonb_array_length(steps) - 1, 'pending', 'poked by the test' from pipelines where id = ${id}`);
        await sse.next('pipeline', (e) => e.event === 'pipeline' && e.data.id === id && e.data.steps.at(-1).error === 'poked by the test');

        const fg = await h.call('POST', '/api/v1/forwarder-groups', { name: 'ev-fg', addresses: ['127.0.0.1'] });
        const zone = await h.call('POST', '/api/v1/views/default/forward-zones', { forwardItemType: 'domain', domain: 'ev.example', forwarderGroupIds: [fg.body.id], forwardStyle: 'first' });
        assert.equal(zone.status, 201, JSON.stringify(zone.body));
        const ze = await sse.next('zone', (e) => e.event === 'zone' && e.data.id === zone.body.id);
        assert.equal(ze.data.active, true);
        assert.equal(ze.data.view, 'default');
        assert.match(node.id!, /^[0-9a-f]{8}-[0-9]+$/);

        assert.equal((await h.call('DELETE', `/api/v1/views/default/forward-zones/${zone.body.id}`)).status, 204);
        const gone = await sse.next('removed', (e) => e.event === 'removed' && e.data.id === `default/${zone.body.id}`);
        assert.equal(gone.data.kind, 'zone');
      } finally {
        sse.close();
      }
    });

    it('resumes from Last-Event-ID, and says reset when it cannot', async () => {
      const fg = await h.call('POST', '/api/v1/forwarder-groups', { name: 'resume-fg', addresses: ['127.0.0.1'] });
      const zone = await h.call('POST', '/api/v1/views/default/forward-zones', { forwardItemType: 'domain', domain: 'resume.example', forwarderGroupIds: [fg.body.id], forwardStyle: 'first' });
      const first = await openSse(`${base}/api/v1/events`, auth);
      // A second client stays connected, so the replica keeps events while the first is away.
      const watcher = await openSse(`${base}/api/v1/events`, auth);
      try {
        await h.call('PATCH', `/api/v1/views/default/forward-zones/${zone.body.id}`, { comment: 'one' });
        await first.next('zone', (e) => e.event === 'zone' && e.data.comment === 'one');
        const lastId = first.lastId()!;
        first.close();
        await h.call('PATCH', `/api/v1/views/default/forward-zones/${zone.body.id}`, { comment: 'two' });
        await watcher.next('zone', (e) => e.event === 'zone' && e.data.comment === 'two');

        const resumed = await openSse(`${base}/api/v1/events`, { ...auth, 'last-event-id': lastId });
        try {
          const missed = await resumed.next('zone', (e) => e.event === 'zone' && e.data.comment === 'two');
          assert.ok(!resumed.events.some((e) => e.event === 'reset'));
          assert.ok(!resumed.events.some((e) => e.event === 'zone' && e.data.comment === 'one'), 'only what it missed');
          assert.ok(missed.id);
        } finally {
          resumed.close();
        }
        for (const stale of ['00000000-1', 'garbage']) {
          const other = await openSse(`${base}/api/v1/events`, { ...auth, 'last-event-id': stale });
          try {
            await other.next('reset', (e) => e.event === 'reset');
          } finally {
            other.close();
          }
        }
      } finally {
        first.close();
        watcher.close();
      }
    });

    it('drops a client that does not read instead of buffering for it', async () => {
      const fg = await h.call('POST', '/api/v1/forwarder-groups', { name: 'slow-fg', addresses: ['127.0.0.1'] });
      const zones: string[] = [];
      for (let i = 0; i < 150; i++) {
        const z = await h.call('POST', '/api/v1/views/default/forward-zones', { forwardItemType: 'domain', domain: `slow${i}.example`, forwarderGroupIds: [fg.body.id], forwardStyle: 'first', comment: 'x'.repeat(1000) });
        zones.push(z.body.id);
      }
      const { port, hostname } = new URL(base);
      const socket = connect({ port: Number(port), host: hostname });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.pause(); // reads nothing: the kernel buffers fill, then the server's
      socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${ADMIN}\r\nAccept: text/event-stream\r\n\r\n`);
      const live = () => h.manager.live.size;
      await waitFor('the slow client to subscribe', () => live() === 1);
      try {
        // Each round announces every zone again: ~180 KB of events per round, far more than the client's allowance.
        const dropped = await waitFor(
          'the slow client to be dropped',
          async () => {
            await Promise.all(zones.map((id) => h.manager.live.announce(`zone:default/${id}`)));
            return live() === 0;
          },
          { timeoutMs: 60_000, intervalMs: 150 },
        );
        assert.ok(dropped);
      } finally {
        socket.destroy();
      }
    });

    it("ends the stream of a revoked token", async () => {
      const t = await h.call('POST', '/api/v1/tokens', { name: `ev-viewer-${backend}`, role: 'viewer' });
      const stream = await openSse(`${base}/api/v1/events`, { authorization: `Bearer ${t.body.secret}` });
      assert.equal((await h.call('DELETE', `/api/v1/tokens/${t.body.token.id}`)).status, 204);
      const refused = await fetch(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${t.body.secret}` } });
      assert.equal(refused.status, 401);
      await waitFor('the open stream to end', async () => Promise.race([stream.ended.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))]), { timeoutMs: 5000 });
      stream.close();
    });
  });
}

describe('live events across replicas on PostgreSQL', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, () => {
  it('a change made through replica A reaches a client of replica B within a second', async () => {
    const a = await startHarness('postgres');
    const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: ADMIN, OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_LOG_LEVEL: 'silent' });
    const database = await openDatabase({ url: a.url! });
    const b = await startManager(env, { database, listen: true, log: createLogger('silent') });
    const sse = await openSse(`${b.url}/api/v1/events`, auth);
    try {
      const t0 = Date.now();
      const created = await a.call('POST', '/api/v1/nodes', { name: 'far-node', ip: '127.0.0.91', roles: ['cdn'] });
      assert.equal(created.status, 201);
      await sse.next('node from the other replica', (e) => e.event === 'node' && e.data.id === created.body.node.id, 1000);
      assert.ok(Date.now() - t0 < 1500);
    } finally {
      sse.close();
      await b.stop();
      await database.close();
      await a.close();
    }
  });
});

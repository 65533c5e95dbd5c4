import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyFileUrl } from '@ocdn/protocol';
import { insertTasks } from '../src/vod/tasks.ts';
import { testBackends } from '../../../test/support/db.ts';
import { startHarness, type Harness } from './harness.ts';

for (const backend of testBackends()) {
  describe(`VOD tasks API on ${backend}`, () => {
    let h: Harness;
    const nodes: Record<string, { id: string; token: string }> = {};
    const asNode = (name: string) => ({ authorization: `Bearer ${nodes[name]!.token}` });
    const newTask = async (file: string, on = 'vod1') => (await insertTasks(h.manager.ctx, [{ file, size: 1000, nodeId: nodes[on]!.id, sourceNodeId: nodes.src!.id }]))[0]!;

    before(async () => {
      h = await startHarness(backend);
      for (const [name, ip, roles] of [
        ['vod1', '127.0.5.2', ['vod']],
        ['vod2', '127.0.5.3', ['vod']],
        ['src', '127.0.5.4', ['vod-source']],
        ['edge', '127.0.5.5', ['cdn']],
      ] as const) {
        const r = await h.call('POST', '/api/v1/nodes', { name, ip, roles, agentPort: 9100 });
        nodes[name] = { id: r.body.node.id, token: r.body.token };
      }
    });
    after(async () => {
      await h?.close();
    });

    it('gives a VOD server its own tasks, each with a URL signed for it that the source can check', async () => {
      const id = await newTask('a.mpg');
      await newTask('b.mpg', 'vod2');
      const r = await h.call('GET', '/api/v1/agent/vod/tasks', undefined, asNode('vod1'));
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.items.map((t: { id: string }) => t.id), [id]);
      const url = new URL(r.body.items[0].sourceUrl);
      assert.equal(url.host, '127.0.5.4:9100');
      assert.equal(url.pathname, '/files/a.mpg');
      const check = verifyFileUrl(nodes.src!.token, 'a.mpg', { node: url.searchParams.get('node'), expires: url.searchParams.get('expires'), signature: url.searchParams.get('signature') });
      assert.deepEqual(check, { ok: true, nodeId: nodes.vod1!.id });
      assert.equal(verifyFileUrl(nodes.vod1!.token, 'a.mpg', Object.fromEntries(url.searchParams)).ok, false, 'signed with the source key, not the downloader key');
    });

    it('moves a task ready → working (with progress) → done, and lists it for admins', async () => {
      const id = await newTask('c.mpg');
      const path = `/api/v1/agent/vod/tasks/${id}`;
      assert.equal((await h.call('PATCH', path, { status: 'working', bytesDone: 0 }, asNode('vod1'))).status, 200);
      const mid = await h.call('PATCH', path, { status: 'working', bytesDone: 400 }, asNode('vod1'));
      assert.equal(mid.body.bytesDone, 400);
      const done = await h.call('PATCH', path, { status: 'done' }, asNode('vod1'));
      assert.equal(done.status, 200);
      assert.equal(done.body.bytesDone, 1000);
      const list = await h.call('GET', '/api/v1/vod/tasks?status=done');
      assert.ok(list.body.items.some((t: { id: string; status: string }) => t.id === id && t.status === 'done'));
    });

    it('refuses illegal transitions with 409, naming them, and changes nothing', async () => {
      const id = await newTask('d.mpg');
      const path = `/api/v1/agent/vod/tasks/${id}`;
      const early = await h.call('PATCH', path, { status: 'done' }, asNode('vod1'));
      assert.equal(early.status, 409);
      assert.match(early.body.error.message, /a ready task cannot become done/);
      await h.call('PATCH', path, { status: 'failed', error: 'disk full' }, asNode('vod1'));
      const again = await h.call('PATCH', path, { status: 'working' }, asNode('vod1'));
      assert.equal(again.status, 409);
      const t = (await h.call('GET', '/api/v1/vod/tasks')).body.items.find((x: { id: string }) => x.id === id);
      assert.equal(t.status, 'failed');
      assert.equal(t.error, 'disk full');
    });

    it('refuses bad input with 400 naming the field', async () => {
      const id = await newTask('e.mpg');
      const path = `/api/v1/agent/vod/tasks/${id}`;
      for (const [body, field] of [
        [{ status: 'ready' }, 'status'],
        [{ status: 'working', bytesDone: -1 }, 'bytesDone'],
        [{ status: 'working', extra: 1 }, 'extra'],
      ] as const) {
        const r = await h.call('PATCH', path, body, asNode('vod1'));
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.ok(r.body.error.details.some((d: { field: string }) => d.field === field), JSON.stringify(r.body));
      }
      assert.equal((await h.call('GET', '/api/v1/vod/tasks?status=bogus')).status, 400);
      assert.equal((await h.call('GET', '/api/v1/vod/files?limit=0')).status, 400);
    });

    it('security: another node, a missing or admin token, a non-VOD node, an unknown task', async () => {
      const id = await newTask('f.mpg');
      const path = `/api/v1/agent/vod/tasks/${id}`;
      const other = await h.call('PATCH', path, { status: 'working' }, asNode('vod2'));
      assert.equal(other.status, 403);
      assert.match(other.body.error.message, /another node/);
      assert.equal((await h.call('PATCH', path, { status: 'working' }, { authorization: '' })).status, 401);
      assert.equal((await h.call('GET', '/api/v1/agent/vod/tasks')).status, 401, 'the admin token is not a node token');
      assert.equal((await h.call('GET', '/api/v1/agent/vod/tasks', undefined, asNode('edge'))).status, 403);
      assert.equal((await h.call('PATCH', '/api/v1/agent/vod/tasks/tsk_nope', { status: 'working' }, asNode('vod1'))).status, 404);
      const t = (await h.call('GET', '/api/v1/vod/tasks')).body.items.find((x: { id: string }) => x.id === id);
      assert.equal(t.status, 'ready', 'nothing changed');
      assert.equal((await h.call('GET', '/api/v1/vod/tasks', undefined, asNode('vod1'))).status, 401, 'admin routes refuse node tokens');
    });

    it('shows an empty catalog while VOD placement is off', async () => {
      const r = await h.call('GET', '/api/v1/vod/files');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.items, []);
    });
  });
}

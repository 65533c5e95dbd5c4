import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { nodes } from '../src/db/schema.ts';
import { FAULT_NODE } from '../src/pipelines/definitions.ts';
import { testBackends } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { ADMIN, startHarness, type Harness } from './harness.ts';

for (const backend of testBackends()) {
  describe(`admin API on ${backend}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(backend);
    });
    after(async () => {
      await h?.close();
    });

    describe('nodes (happy)', () => {
      it('registers a node: 201 with node, token shown once, and the ADD_NODE pipeline', async () => {
        const r = await h.call('POST', '/api/v1/nodes', { name: 'edge-1', ip: '127.0.0.2', roles: ['cdn', 'dns'], agentPort: 9001 });
        assert.equal(r.status, 201);
        assert.match(r.body.node.id, /^nod_/);
        assert.equal(r.body.node.status, 'new');
        assert.equal(r.body.node.connected, false);
        assert.deepEqual(r.body.node.roles, ['cdn', 'dns']);
        assert.equal(r.body.node.agentPort, 9001);
        assert.ok(r.body.token.startsWith(`${r.body.node.id}.`));
        assert.equal(r.body.pipeline.kind, 'ADD_NODE');
        assert.equal(r.body.pipeline.subject, r.body.node.id);
        assert.deepEqual(r.body.pipeline.steps.map((s: { name: string }) => s.name), ['OCDN_NODE_HEART', 'OCDN_NODE_STATUS']);
        const got = await h.call('GET', `/api/v1/nodes/${r.body.node.id}`);
        assert.equal(got.status, 200);
        assert.equal(got.body.name, 'edge-1');
        assert.equal(got.body.token, undefined, 'the token is never shown again');
        const list = await h.call('GET', '/api/v1/nodes');
        assert.ok(list.body.items.some((n: { id: string }) => n.id === r.body.node.id));
      });

      it('node routes take the id or the name of a live node', async () => {
        const r = await h.call('POST', '/api/v1/nodes', { name: 'by-name-1', ip: '127.0.0.31', roles: ['cdn'] });
        const byName = await h.call('GET', '/api/v1/nodes/by-name-1');
        assert.equal(byName.status, 200);
        assert.equal(byName.body.id, r.body.node.id);
        const missing = await h.call('GET', '/api/v1/nodes/no-such-name');
        assert.equal(missing.status, 404);
        assert.match(missing.body.error.message, /nod_…, or the name of a live node/);
        const d = await h.call('DELETE', '/api/v1/nodes/by-name-1');
        assert.equal(d.status, 202);
        assert.equal(d.body.pipeline.subject, r.body.node.id);
      });

      it('defaults agentPort to 8081 and normalises the ip', async () => {
        const r = await h.call('POST', '/api/v1/nodes', { name: 'edge-v6', ip: '2001:DB8:0:0::1', roles: ['vod'] });
        assert.equal(r.status, 201);
        assert.equal(r.body.node.agentPort, 8081);
        assert.equal(r.body.node.ip, '2001:db8::1');
      });

      it('removes a node with REMOVE_NODE, cancelling its waiting ADD_NODE', async () => {
        const c = await h.call('POST', '/api/v1/nodes', { name: 'edge-gone', ip: '127.0.0.9', roles: ['cdn'] });
        const id = c.body.node.id;
        const d = await h.call('DELETE', `/api/v1/nodes/${id}`);
        assert.equal(d.status, 202);
        assert.equal(d.body.pipeline.kind, 'REMOVE_NODE');
        await waitFor('REMOVE_NODE to succeed', async () => (await h.call('GET', `/api/v1/pipelines/${d.body.pipeline.id}`)).body.status === 'succeeded');
        assert.equal((await h.call('GET', `/api/v1/nodes/${id}`)).body.status, 'delete');
        const add = await h.call('GET', `/api/v1/pipelines/${c.body.pipeline.id}`);
        assert.equal(add.body.status, 'failed');
        assert.match(add.body.steps[0].error, /cancelled: node is being removed/);
        // name and ip are free again once the node is deleted
        const again = await h.call('POST', '/api/v1/nodes', { name: 'edge-gone', ip: '127.0.0.9', roles: ['cdn'] });
        assert.equal(again.status, 201);
      });
    });

    describe('nodes (errors)', () => {
      it('refuses a duplicate name or ip with 409 naming the field and the other node', async () => {
        const a = await h.call('POST', '/api/v1/nodes', { name: 'dup-a', ip: '127.0.0.20', roles: ['cdn'] });
        assert.equal(a.status, 201);
        const byName = await h.call('POST', '/api/v1/nodes', { name: 'dup-a', ip: '127.0.0.21', roles: ['cdn'] });
        assert.equal(byName.status, 409);
        assert.equal(byName.body.error.code, 'conflict');
        assert.equal(byName.body.error.details.field, 'name');
        assert.equal(byName.body.error.details.nodeId, a.body.node.id);
        const byIp = await h.call('POST', '/api/v1/nodes', { name: 'dup-b', ip: '127.0.0.20', roles: ['cdn'] });
        assert.equal(byIp.status, 409);
        assert.equal(byIp.body.error.details.field, 'ip');
      });

      it('answers 400 naming the field for bad input, and stores nothing', async () => {
        const before = (await h.call('GET', '/api/v1/nodes')).body.items.length;
        const cases: [unknown, string][] = [
          [{ name: 'x1', ip: '127.0.0.300', roles: ['cdn'] }, 'ip'],
          [{ name: 'x2', ip: 'example.com', roles: ['cdn'] }, 'ip'],
          [{ name: 'x3', ip: '0.0.0.0', roles: ['cdn'] }, 'ip'],
          [{ name: 'x4', ip: '127.0.0.30', roles: ['mail'] }, 'roles.0'],
          [{ name: 'x5', ip: '127.0.0.30', roles: [] }, 'roles'],
          [{ name: 'x6', ip: '127.0.0.30', roles: ['cdn'], agentPort: 70000 }, 'agentPort'],
          [{ name: 'x7', ip: '127.0.0.30', roles: ['cdn'], agentPort: '80' }, 'agentPort'],
          [{ name: 'x8', ip: '127.0.0.30', roles: ['cdn'], colour: 'red' }, 'colour'],
          [{ name: '../etc', ip: '127.0.0.30', roles: ['cdn'] }, 'name'],
          [{ ip: '127.0.0.30', roles: ['cdn'] }, 'name'],
          [[1, 2], 'body'],
        ];
        for (const [body, field] of cases) {
          const r = await h.call('POST', '/api/v1/nodes', body);
          assert.equal(r.status, 400, JSON.stringify(body));
          assert.equal(r.body.error.code, 'bad_request');
          const fields = Array.isArray(r.body.error.details) ? r.body.error.details.map((d: { field: string }) => d.field) : [];
          assert.ok(fields.includes(field), `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
        }
        assert.equal((await h.call('GET', '/api/v1/nodes')).body.items.length, before);
      });

      it('answers 400 for a body that is not JSON, and 413 for an oversized one', async () => {
        const bad = await h.call('POST', '/api/v1/nodes', '{"name": ');
        assert.equal(bad.status, 400);
        assert.match(bad.body.error.message, /JSON/);
        const notJson = await h.call('POST', '/api/v1/nodes', 'name=x', { 'content-type': 'text/plain' });
        assert.equal(notJson.status, 400);
        const big = await h.call('POST', '/api/v1/nodes', JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), ip: '1.2.3.4', roles: ['cdn'] }), {
          'content-length': String(2 * 1024 * 1024 + 50),
        });
        assert.equal(big.status, 413);
        assert.equal(big.body.error.code, 'payload_too_large');
      });

      it('answers 404 for unknown nodes, pipelines and routes', async () => {
        assert.equal((await h.call('GET', '/api/v1/nodes/nod_doesnotexist')).status, 404);
        assert.equal((await h.call('DELETE', '/api/v1/nodes/nod_doesnotexist')).status, 404);
        assert.equal((await h.call('GET', '/api/v1/pipelines/pip_nope')).status, 404);
        const r = await h.call('GET', '/api/v1/nothing-here');
        assert.equal(r.status, 404);
        assert.equal(r.body.error.code, 'not_found');
      });

      it('refuses to delete a node twice', async () => {
        const c = await h.call('POST', '/api/v1/nodes', { name: 'twice', ip: '127.0.0.40', roles: ['cdn'] });
        assert.equal((await h.call('DELETE', `/api/v1/nodes/${c.body.node.id}`)).status, 202);
        const again = await h.call('DELETE', `/api/v1/nodes/${c.body.node.id}`);
        assert.equal(again.status, 409);
      });
    });

    describe('admin auth (security)', () => {
      it('refuses a missing, malformed or wrong token with 401', async () => {
        for (const headers of [{ authorization: '' }, { authorization: 'Basic abc' }, { authorization: `Bearer ${ADMIN}x` }, { authorization: `Bearer ${ADMIN.slice(0, -1)}` }]) {
          const r = await h.call('GET', '/api/v1/nodes', undefined, headers);
          assert.equal(r.status, 401, JSON.stringify(headers));
          assert.equal(r.body.error.code, 'unauthorized');
        }
        const post = await h.call('POST', '/api/v1/nodes', { name: 'sneaky', ip: '127.0.0.50', roles: ['cdn'] }, { authorization: 'Bearer nope' });
        assert.equal(post.status, 401);
        const list = await h.call('GET', '/api/v1/nodes');
        assert.ok(!list.body.items.some((n: { name: string }) => n.name === 'sneaky'));
      });
      it('leaves health, metrics and the API document open', async () => {
        for (const p of ['/healthz', '/metrics', '/openapi.json']) {
          assert.equal((await h.call('GET', p, undefined, { authorization: '' })).status, 200, p);
        }
      });
    });

    describe('pipelines', () => {
      it('lists with filters, and validates them', async () => {
        const all = await h.call('GET', '/api/v1/pipelines?kind=ADD_NODE');
        assert.equal(all.status, 200);
        assert.ok(all.body.items.length > 0);
        assert.ok(all.body.items.every((p: { kind: string }) => p.kind === 'ADD_NODE'));
        const bad = await h.call('GET', '/api/v1/pipelines?kind=MAKE_COFFEE');
        assert.equal(bad.status, 400);
        assert.equal(bad.body.error.details[0].field, 'kind');
      });

      it('retries a failed pipeline from its failed step, and refuses to retry one that did not fail', async () => {
        const c = await h.call('POST', '/api/v1/nodes', { name: 'retry-me', ip: '127.0.0.60', roles: ['cdn'] });
        const id = c.body.node.id;
        const del = await h.call('DELETE', `/api/v1/nodes/${id}`);
        assert.equal(del.status, 202);
        await waitFor('REMOVE_NODE', async () => (await h.call('GET', `/api/v1/pipelines/${del.body.pipeline.id}`)).body.status === 'succeeded');
        // FAULT_NODE on a deleted node fails at OCDN_NODE_STATUS: delete cannot become fault.
        const engine = h.manager.ctx.engine;
        const pid = await engine.enqueue(h.manager.ctx.db, FAULT_NODE({ id, ip: '127.0.0.60' }));
        await engine.dispatch(pid, { kind: 'FAULT_NODE' });
        const failed = await waitFor('FAULT_NODE to fail', async () => {
          const p = (await h.call('GET', `/api/v1/pipelines/${pid}`)).body;
          return p.status === 'failed' ? p : null;
        });
        assert.equal(failed.steps[0].status, 'failed');
        assert.match(failed.steps[0].error, /is delete; it cannot become fault/);
        assert.equal((await h.call('POST', `/api/v1/pipelines/${del.body.pipeline.id}/retry`)).status, 409);

        await h.manager.ctx.db.update(nodes).set({ status: 'normal' }).where(eq(nodes.id, id));
        const retried = await h.call('POST', `/api/v1/pipelines/${pid}/retry`);
        assert.equal(retried.status, 202);
        assert.equal(retried.body.pipeline.id, pid);
        const done = await waitFor('retried FAULT_NODE to succeed', async () => {
          const p = (await h.call('GET', `/api/v1/pipelines/${pid}`)).body;
          return p.status === 'succeeded' ? p : null;
        });
        assert.equal(done.steps[0].attempts, 2);
        assert.equal(done.steps[0].error, null);
        assert.equal((await h.call('GET', `/api/v1/nodes/${id}`)).body.status, 'fault');
      });
    });

    it('serves Prometheus metrics with node and pipeline series', async () => {
      const r = await h.manager.app.request('/metrics');
      const text = await r.text();
      assert.match(text, /ocdn_agents_connected 0/);
      assert.match(text, /ocdn_nodes\{status="new"\} \d+/);
      assert.match(text, /ocdn_pipeline_runs_total\{kind="REMOVE_NODE",status="succeeded"\} \d+/);
      assert.match(text, /ocdn_pipeline_step_duration_seconds_bucket/);
    });

    it('documents the API in OpenAPI and serves Swagger UI', async () => {
      const doc = (await (await h.manager.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
      assert.ok(doc.paths['/api/v1/nodes']?.post);
      assert.ok(doc.paths['/api/v1/pipelines/{id}/retry']?.post);
      const ui = await h.manager.app.request('/docs');
      const html = await ui.text();
      assert.match(html, /swagger/i);
      // Air-gapped control planes: every script and style the page loads comes from the manager itself.
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(refs.length >= 3);
      for (const ref of refs) {
        assert.match(ref, /^\/docs\//, `${ref} is served by the manager`);
        const asset = await h.manager.app.request(ref);
        assert.equal(asset.status, 200, ref);
        assert.ok((await asset.arrayBuffer()).byteLength > 0, ref);
      }
      assert.equal((await h.manager.app.request('/docs/assets/..%2Fpackage.json')).status, 404, 'only the listed assets');
    });
  });
}

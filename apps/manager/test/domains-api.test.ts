// The domain API's refusals, in-process on both databases (no nginx or agent needed): each bad request is a 400,
// 404 or 409 naming the field, and nothing changes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { nodes } from '../src/db/schema.ts';
import { testBackends } from '../../../test/support/db.ts';
import { startHarness, type Harness } from './harness.ts';

const ORIGIN = 'http://127.0.0.1:9';

for (const backend of testBackends()) {
  describe(`domain API refusals on ${backend}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(backend);
      // A normal cdn node (no agent: the domain's pipeline will not finish, its row exists meanwhile).
      const r = await h.call('POST', '/api/v1/nodes', { name: 'dom-edge', ip: '127.0.0.61', roles: ['cdn'] });
      await h.manager.ctx.db.update(nodes).set({ status: 'normal' }).where(eq(nodes.id, r.body.node.id));
      assert.equal((await h.call('POST', '/api/v1/domains', { domain: 'shop.example.com', origins: [ORIGIN] })).status, 202);
    });
    after(async () => {
      await h?.close();
    });

    it('refuses bad domains with 400/404/409 that name the problem, changing nothing', async () => {
      const cases: [unknown, number, string][] = [
        [{ domain: 'not a domain', origins: [ORIGIN] }, 400, 'domain'],
        [{ domain: '*.wild.example.com', origins: [ORIGIN] }, 400, 'domain'],
        [{ domain: 'x.example.com', origins: ['ftp://o.example'] }, 400, 'origins.0'],
        [{ domain: 'x.example.com', origins: [] }, 400, 'origins'],
        [{ domain: 'x.example.com', origins: [ORIGIN], nodeIds: ['nod_nope1234'] }, 400, 'nodeIds.0'],
        [{ domain: 'x.example.com', origins: [ORIGIN], subDomain: 'bad_label' }, 400, 'subDomain'],
        [{ domain: 'x.example.com', origins: ['http:///x'] }, 400, 'origins.0'],
        [{ domain: 'x.example.com', origins: [ORIGIN, 'http://127.0.0.1:9/'] }, 400, 'origins.1'],
        [{ domain: 'shop.example.com', origins: [ORIGIN] }, 409, 'domain'],
        [{ domain: 'other.example.com', origins: [ORIGIN], subDomain: 'shop-example-com' }, 409, 'subDomain'],
      ];
      for (const [body, status, field] of cases) {
        const r = await h.call('POST', '/api/v1/domains', body);
        assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
        const details = r.body.error.details;
        const fields = Array.isArray(details) ? details.map((x: { field: string }) => x.field) : [details?.field];
        assert.ok(fields.includes(field), `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      }
      assert.deepEqual((await h.call('GET', '/api/v1/domains')).body.items.map((d: { domain: string }) => d.domain), ['shop.example.com']);
      assert.equal((await h.call('GET', '/api/v1/domains/nothing.example.com')).status, 404);
      assert.equal((await h.call('GET', '/api/v1/domains/not_a_name')).status, 400);
    });

    it('refuses a PATCH with anything but valid origins, rolling nothing out', async () => {
      const before = (await h.call('GET', '/api/v1/domains/shop.example.com')).body.configVersion;
      for (const body of [{ origins: ['gopher://x'] }, { origins: ['http://127.0.0.1\u0000'] }, { origins: [ORIGIN], subDomain: 'x' }]) {
        const r = await h.call('PATCH', '/api/v1/domains/shop.example.com', body);
        assert.equal(r.status, 400, JSON.stringify(body));
      }
      assert.equal((await h.call('GET', '/api/v1/domains/shop.example.com')).body.configVersion, before);
    });
  });
}

for (const backend of testBackends()) {
  describe(`a new domain's answer on ${backend}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(backend);
    });
    after(async () => {
      await h?.close();
    });

    it('shows the domain and its run as a read finds them, nodes by ip and steps in the order given', async () => {
      // Given out of order, and with ips whose text order is not their numeric one (the API lists by ip as text).
      const ids: string[] = [];
      for (const [name, ip] of [['ans-b', '127.0.0.8'], ['ans-a', '127.0.0.72'], ['ans-c', '127.0.0.100']] as const) {
        const r = await h.call('POST', '/api/v1/nodes', { name, ip, roles: ['cdn'] });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        await h.manager.ctx.db.update(nodes).set({ status: 'normal' }).where(eq(nodes.id, r.body.node.id));
        ids.push(r.body.node.id);
      }
      const r = await h.call('POST', '/api/v1/domains', { domain: 'answer.example.com', origins: [ORIGIN], nodeIds: ids });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const { domain, pipeline } = r.body;
      // No agent answers: the run stays at its first node's sync, and the domain and its nodes as they were written.
      assert.deepEqual(domain, (await h.call('GET', '/api/v1/domains/answer.example.com')).body);
      assert.deepEqual(domain.nodes.map((n: { ip: string }) => n.ip), ['127.0.0.100', '127.0.0.72', '127.0.0.8']);
      const read = (await h.call('GET', `/api/v1/pipelines/${pipeline.id}`)).body;
      for (const key of ['id', 'kind', 'subject', 'createdAt', 'finishedAt']) assert.deepEqual(pipeline[key], read[key], key);
      const names = (p: { steps: { name: string; target: string | null }[] }) => p.steps.map((s) => `${s.name} ${s.target}`);
      assert.deepEqual(names(pipeline), names(read));
      assert.equal(pipeline.steps[2].target, '127.0.0.8', 'the steps go in the order the nodes were given');
      assert.equal(pipeline.status, 'pending');
      assert.ok(pipeline.steps.every((s: { status: string; attempts: number; error: unknown }) => s.status === 'pending' && s.attempts === 0 && s.error === null));
    });
  });
}

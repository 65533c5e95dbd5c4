import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_ROLES, roleAllows, type ApiRole } from '@ocdn/protocol';
import { openDatabase } from '../src/db/client.ts';
import { parseManagerEnv } from '../src/env.ts';
import { createLogger } from '../src/log.ts';
import { startManager } from '../src/start-manager.ts';
import { testBackends } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { ADMIN, startHarness, type Harness } from './harness.ts';

type Op = { 'x-ocdn-role'?: string; description?: string };

/** Makes a token of `role` through the API and returns its secret. */
async function tokenOf(h: Harness, role: ApiRole, name = `${role}-${Math.random().toString(36).slice(2, 8)}`, expiresAt?: string): Promise<{ id: string; secret: string }> {
  const r = await h.call('POST', '/api/v1/tokens', { name, role, ...(expiresAt ? { expiresAt } : {}) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { id: r.body.token.id, secret: r.body.secret };
}
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('access control', () => {
  for (const backend of testBackends()) {
    describe(`on ${backend}`, () => {
      let h: Harness;
      before(async () => {
        h = await startHarness(backend);
      });
      after(() => h.close());

      it('every admin route in the OpenAPI document declares a role, and each role gets exactly what the table allows', async () => {
        const doc = (await h.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, Op>> };
        const tokens = { viewer: await tokenOf(h, 'viewer'), operator: await tokenOf(h, 'operator'), admin: await tokenOf(h, 'admin') };
        const undeclared: string[] = [];
        const wrong: string[] = [];
        let checked = 0;
        for (const [path, ops] of Object.entries(doc.paths)) {
          if (!path.startsWith('/api/v1/') || path.startsWith('/api/v1/agent/')) continue;
          for (const [method, op] of Object.entries(ops)) {
            const declared = op['x-ocdn-role'];
            if (!declared) {
              undeclared.push(`${method} ${path}`);
              continue;
            }
            assert.match(op.description ?? '', declared === 'public' ? /No token needed/ : new RegExp(`\`${declared}\` role`), `${method} ${path} says its role in its description`);
            const url = path.replaceAll(/\{[^}]+\}/g, 'nosuchthing');
            const body = ['post', 'patch', 'put'].includes(method) ? {} : undefined;
            // No credentials: 401 (a public route may answer otherwise, but never 403).
            const anonymous = await h.call(method.toUpperCase(), url, body, { authorization: '' });
            if (declared !== 'public' && anonymous.status !== 401) wrong.push(`${method} ${path} without a token: ${anonymous.status}`);
            for (const role of API_ROLES) {
              const r = await h.call(method.toUpperCase(), url, body, bearer(tokens[role].secret));
              checked++;
              const allowed = declared === 'public' || roleAllows(role, declared as ApiRole);
              if (allowed && (r.status === 401 || r.status === 403 || r.status >= 500)) wrong.push(`${method} ${path} as ${role}: ${r.status} (allowed)`);
              if (!allowed) {
                if (r.status !== 403) wrong.push(`${method} ${path} as ${role}: ${r.status} (expected 403)`);
                else if (!String(r.body.error?.message).includes(declared)) wrong.push(`${method} ${path} as ${role}: the 403 does not name ${declared}`);
              }
            }
          }
        }
        assert.deepEqual(undeclared, [], 'routes without x-ocdn-role');
        assert.deepEqual(wrong, []);
        assert.ok(checked >= 3 * 45, `checked ${checked} route × role pairs`);
      });

      it('tokens: shown once, never listed with a secret; bad input refused with the field named; revocation and expiry take effect at once', async () => {
        const op = await tokenOf(h, 'operator', 'ci operator');
        assert.match(op.secret, /^ocdn_tok_[0-9a-z]{16}\.[A-Za-z0-9_-]{43}$/);
        const list = await h.call('GET', '/api/v1/tokens');
        assert.ok(list.body.items.some((t: { name: string }) => t.name === 'bootstrap'), 'the bootstrap admin token is listed');
        assert.ok(!JSON.stringify(list.body).includes(op.secret.split('.')[1]!), 'no secret in the list');
        assert.equal((await h.call('GET', '/api/v1/domains', undefined, bearer(op.secret))).status, 200);

        const bad: [unknown, number, string][] = [
          [{ name: 'x', role: 'root' }, 400, 'role'],
          [{ name: '', role: 'viewer' }, 400, 'name'],
          [{ name: 'ci operator', role: 'viewer' }, 409, 'name'],
          [{ name: 'past', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' }, 400, 'expiresAt'],
          [{ name: 'nonsense', role: 'viewer', expiresAt: 'tomorrow' }, 400, 'expiresAt'],
        ];
        for (const [body, status, field] of bad) {
          const r = await h.call('POST', '/api/v1/tokens', body);
          assert.equal(r.status, status, JSON.stringify(body));
          assert.ok(JSON.stringify(r.body.error).includes(field), `${JSON.stringify(r.body.error)} names ${field}`);
        }
        assert.equal((await h.call('GET', '/api/v1/tokens')).body.items.length, list.body.items.length, 'nothing was created');

        assert.equal((await h.call('DELETE', `/api/v1/tokens/${op.id}`)).status, 204);
        const revoked = await h.call('GET', '/api/v1/domains', undefined, bearer(op.secret));
        assert.equal(revoked.status, 401);

        const soon = await tokenOf(h, 'viewer', 'short-lived', new Date(Date.now() + 1500).toISOString());
        assert.equal((await h.call('GET', '/api/v1/nodes', undefined, bearer(soon.secret))).status, 200);
        await waitFor('the expired token to be refused', async () => (await h.call('GET', '/api/v1/nodes', undefined, bearer(soon.secret))).status === 401, { timeoutMs: 5000 });
      });

      it('the last admin token cannot be revoked; a token may revoke itself and is refused from then on', async (t) => {
        // A manager of its own: this test revokes the bootstrap token the others use.
        const h = await startHarness(backend);
        t.after(() => h.close());
        const admins = (await h.call('GET', '/api/v1/tokens')).body.items.filter((t: { role: string }) => t.role === 'admin');
        const other = await tokenOf(h, 'admin', 'second admin');
        for (const t of admins) assert.equal((await h.call('DELETE', `/api/v1/tokens/${t.id}`, undefined, bearer(other.secret))).status, 204);
        const last = await h.call('DELETE', `/api/v1/tokens/${other.id}`, undefined, bearer(other.secret));
        assert.equal(last.status, 409);
        assert.match(last.body.error.message, /last live admin token/);
        // the bootstrap token is gone: the remaining admin makes a new one, then revokes itself
        const next = await tokenOf({ ...h, call: (m, p, b, hd) => h.call(m, p, b, { ...bearer(other.secret), ...hd }) }, 'admin', 'third admin');
        assert.equal((await h.call('DELETE', `/api/v1/tokens/${other.id}`, undefined, bearer(other.secret))).status, 204);
        assert.equal((await h.call('GET', '/api/v1/tokens', undefined, bearer(other.secret))).status, 401);
        assert.equal((await h.call('GET', '/api/v1/tokens', undefined, bearer(next.secret))).status, 200);
        assert.equal((await h.call('GET', '/api/v1/tokens')).status, 401, 'the revoked bootstrap token is refused');
      });
    });
  }
});

describe('audit log', () => {
  for (const backend of testBackends()) {
    describe(`on ${backend}`, () => {
      let h: Harness;
      before(async () => {
        h = await startHarness(backend);
      });
      after(() => h.close());
      const entries = async (q: string) => (await h.call('GET', `/api/v1/audit?${q}`)).body.items as any[];

      it('records creates, updates, deletes and refusals with actor, route, resource, status and before/after', async () => {
        const op = await tokenOf(h, 'operator', 'auditor');
        const viewer = await tokenOf(h, 'viewer', 'watcher');
        const created = await h.call('POST', '/api/v1/forwarder-groups', { name: 'audited', addresses: ['127.0.0.1'] }, bearer(op.secret));
        assert.equal(created.status, 201);
        const id = created.body.id as string;
        assert.equal((await h.call('PATCH', `/api/v1/forwarder-groups/${id}`, { addresses: ['127.0.0.2'] }, bearer(op.secret))).status, 200);
        assert.equal((await h.call('POST', '/api/v1/forwarder-groups', { name: 'audited', addresses: ['127.0.0.1'] }, bearer(op.secret))).status, 409);
        assert.equal((await h.call('DELETE', `/api/v1/forwarder-groups/${id}`, undefined, bearer(viewer.secret))).status, 403);
        assert.equal((await h.call('DELETE', `/api/v1/forwarder-groups/${id}`, undefined, bearer('ocdn_tok_0000000000000000.' + 'x'.repeat(43)))).status, 401);
        assert.equal((await h.call('DELETE', `/api/v1/forwarder-groups/${id}`, undefined, bearer(op.secret))).status, 204);

        const log = await entries(`resourceType=forwarder-group&resourceId=${id}`);
        const summary = log.map((e) => `${e.method} ${e.status} ${e.actor?.name ?? '-'}`);
        assert.deepEqual(summary, ['DELETE 204 auditor', 'DELETE 401 -', 'DELETE 403 watcher', 'PATCH 200 auditor', 'POST 201 auditor']);
        const [del, unauth, forbidden, patch, post] = log;
        assert.equal(post.route, '/api/v1/forwarder-groups');
        assert.equal(post.before, null);
        assert.deepEqual(post.after.addresses, ['127.0.0.1']);
        assert.deepEqual(patch.before.addresses, ['127.0.0.1']);
        assert.deepEqual(patch.after.addresses, ['127.0.0.2']);
        assert.equal(patch.route, '/api/v1/forwarder-groups/{id}');
        assert.deepEqual(forbidden.actor, { tokenId: viewer.id, name: 'watcher', role: 'viewer' });
        assert.equal(unauth.actor, null);
        assert.deepEqual(del.before.addresses, ['127.0.0.2']);
        assert.equal(del.after, null);
        const conflict = (await entries('actor=auditor')).find((e) => e.status === 409);
        assert.ok(conflict, 'the refused duplicate is recorded');
        assert.equal(conflict.resourceType, 'forwarder-group');

        // Filters and cursor pagination walk the same entries, newest first, without repeats.
        const seen: string[] = [];
        let cursor = '';
        for (let page = 0; page < 10; page++) {
          const r = await h.call('GET', `/api/v1/audit?actor=${op.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
          seen.push(...r.body.items.map((e: { id: string }) => e.id));
          if (!r.body.nextCursor) break;
          cursor = r.body.nextCursor;
        }
        const all = (await entries(`actor=${op.id}&limit=1000`)).map((e) => e.id);
        assert.deepEqual(seen, all);
        assert.ok(all.length >= 4);
        assert.equal((await h.call('GET', '/api/v1/audit', undefined, bearer(viewer.secret))).status, 403, 'a viewer does not read the audit log');
        assert.equal((await h.call('GET', '/api/v1/audit?cursor=zzzz')).status, 400);
        const future = await entries(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
        assert.deepEqual(future, []);
      });

      it('a change and its entry commit together: when the entry cannot be written, the change is not made', async () => {
        await h.database.db.execute(`alter table audit_log add constraint refuse_groups check (route <> '/api/v1/domain-groups')` as never);
        try {
          const r = await h.call('POST', '/api/v1/domain-groups', { name: 'unaudited', domains: ['a.example'] });
          assert.equal(r.status, 500);
        } finally {
          await h.database.db.execute(`alter table audit_log drop constraint refuse_groups` as never);
        }
        const groups = (await h.call('GET', '/api/v1/domain-groups')).body.items;
        assert.ok(!groups.some((g: { name: string }) => g.name === 'unaudited'), 'the change was rolled back with its entry');
      });
    });
  }
});

describe('revocation across replicas on PostgreSQL', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, () => {
  it('a token revoked on one replica is refused by the other at its next request', async () => {
    const a = await startHarness('postgres');
    const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: ADMIN, OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_LOG_LEVEL: 'silent' });
    const database = await openDatabase({ url: a.url! });
    const b = await startManager(env, { database, listen: false, log: createLogger('silent') });
    try {
      const t = await tokenOf(a, 'viewer', 'roaming');
      const onB = async () => (await b.app.request('/api/v1/nodes', { headers: bearer(t.secret) })).status;
      assert.equal(await onB(), 200);
      assert.equal((await a.call('DELETE', `/api/v1/tokens/${t.id}`)).status, 204);
      assert.equal(await onB(), 401);

      // A write by a caller B verified lately runs without a lookup first; the revocation still wins, in its
      // transaction: 401, nothing changed, the refusal in the audit log.
      const w = await tokenOf(a, 'operator', 'roaming-writer');
      const write = async (name: string, domains: unknown) =>
        b.app.request('/api/v1/domain-groups', { method: 'POST', headers: { ...bearer(w.secret), 'content-type': 'application/json' }, body: JSON.stringify({ name, domains }) });
      assert.equal((await write('before-revocation', ['a.example'])).status, 201);
      assert.equal((await a.call('DELETE', `/api/v1/tokens/${w.id}`)).status, 204);
      const refused = await write('after-revocation', ['b.example']);
      assert.equal(refused.status, 401, await refused.text());
      // A bad request from a revoked caller is answered as the revocation, not as the bad input.
      assert.equal((await write('', 'not a list')).status, 401);
      const groups = (await a.call('GET', '/api/v1/domain-groups')).body.items as { name: string }[];
      assert.deepEqual(groups.map((g) => g.name).filter((n) => n.endsWith('-revocation')), ['before-revocation']);
      const entries = (await a.call('GET', '/api/v1/audit?resourceType=domain-group&limit=10')).body.items as { status: number; route: string; actor: unknown }[];
      assert.deepEqual(entries.map((e) => e.status).slice(0, 3), [401, 401, 201]);
    } finally {
      await b.stop();
      await database.close();
      await a.close();
    }
  });
});

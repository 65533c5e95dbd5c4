import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { authenticateNodeToken, NodeTokenLookup } from '../src/nodes/agent-auth.ts';
import { testBackends } from '../../../test/support/db.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { ADMIN, startHarness, type Harness } from './harness.ts';

describe('console sessions', () => {
  for (const backend of testBackends()) {
    describe(`on ${backend}`, () => {
      let h: Harness;
      before(async () => {
        h = await startHarness(backend);
      });
      after(() => h.close());

      const signIn = async (token: string, headers: Record<string, string> = {}) => {
        const res = await h.manager.app.request('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json', host: 'console.test', ...headers }, body: JSON.stringify({ token }) });
        return { res, cookie: /ocdn_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] };
      };
      const withCookie = (cookie: string, method = 'GET', path = '/api/v1/session', headers: Record<string, string> = {}, body?: unknown) =>
        h.manager.app.request(path, {
          method,
          headers: { cookie: `ocdn_session=${cookie}`, host: 'console.test', ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });

      it('signing in sets an HttpOnly, SameSite=Strict cookie that carries the role; writes need the console origin', async () => {
        const viewer = (await h.call('POST', '/api/v1/tokens', { name: 'console viewer', role: 'viewer' })).body;
        const { res, cookie } = await signIn(viewer.secret);
        assert.equal(res.status, 201);
        const set = res.headers.get('set-cookie')!;
        assert.match(set, /HttpOnly/);
        assert.match(set, /SameSite=Strict/);
        assert.doesNotMatch(set, /Secure/, 'plain http: no Secure flag');
        assert.match((await signIn(viewer.secret, { 'x-forwarded-proto': 'https' })).res.headers.get('set-cookie')!, /Secure/);
        const me = await withCookie(cookie!);
        assert.equal(me.status, 200);
        assert.equal(((await me.json()) as { token: { role: string } }).token.role, 'viewer');
        assert.equal((await withCookie(cookie!, 'GET', '/api/v1/nodes')).status, 200);
        const write = await withCookie(cookie!, 'POST', '/api/v1/views', { origin: 'http://console.test' }, { name: 'fromcookie' });
        assert.equal(write.status, 403, 'a viewer session cannot write');

        const op = (await h.call('POST', '/api/v1/tokens', { name: 'console operator', role: 'operator' })).body;
        const opCookie = (await signIn(op.secret)).cookie!;
        assert.equal((await withCookie(opCookie, 'POST', '/api/v1/views', {}, { name: 'nooriginview' })).status, 403, 'no Origin: refused');
        const foreign = await withCookie(opCookie, 'POST', '/api/v1/views', { origin: 'http://evil.test' }, { name: 'evilview' });
        assert.equal(foreign.status, 403);
        assert.match(((await foreign.json()) as { error: { message: string } }).error.message, /cross-site/);
        assert.equal((await withCookie(opCookie, 'POST', '/api/v1/views', { origin: 'http://console.test' }, { name: 'consoleview' })).status, 201);
        assert.equal((await signIn(op.secret, { origin: 'http://evil.test' })).res.status, 403, 'a sign-in from another site is refused');
        assert.equal((await h.call('POST', '/api/v1/views', { name: 'bearerview' })).status, 201, 'bearer scripts need no Origin');

        // Revoking the token ends its sessions; signing out ends one.
        assert.equal((await h.call('DELETE', `/api/v1/tokens/${op.token.id}`)).status, 204);
        assert.equal((await withCookie(opCookie)).status, 401);
        assert.equal((await withCookie(cookie!, 'DELETE', '/api/v1/session', { origin: 'http://console.test' })).status, 204);
        assert.equal((await withCookie(cookie!)).status, 401);
        assert.equal((await signIn('not-a-token-at-all-xxxxxxxx')).res.status, 401);
      });
    });
  }
});

describe('node-token rotation', () => {
  for (const backend of testBackends()) {
    it(`on ${backend}: the old token works until the new one is used, or until the grace period ends`, async () => {
      const h = await startHarness(backend, { OCDN_NODE_TOKEN_GRACE_S: '2' });
      try {
        const reg = await h.call('POST', '/api/v1/nodes', { name: 'rotating', ip: '127.0.8.1', roles: ['cdn'] });
        assert.equal(reg.status, 201);
        const nodeId = reg.body.node.id as string;
        const first = reg.body.token as string;
        const auth = (t: string) => authenticateNodeToken(h.database.db, t);
        assert.ok(await auth(first));

        const rotated = await h.call('POST', `/api/v1/nodes/${nodeId}/token`);
        assert.equal(rotated.status, 200);
        const second = rotated.body.token as string;
        assert.notEqual(second, first);
        assert.ok((await h.call('GET', `/api/v1/nodes/${nodeId}`)).body.oldTokenValidUntil, 'the node shows the pending rotation');
        assert.ok(await auth(first), 'the old token still works during the grace period');
        assert.ok(await auth(second), 'the new token works, and takes over');
        assert.equal(await auth(first), null, 'once the new token was used, the old one is refused');
        assert.equal((await h.call('GET', `/api/v1/nodes/${nodeId}`)).body.oldTokenValidUntil, null);

        const third = (await h.call('POST', `/api/v1/nodes/rotating/token`)).body.token as string;
        assert.ok(await auth(second));
        await waitFor('the old token to expire after its grace period', async () => (await auth(second)) === null, { timeoutMs: 5000 });
        assert.ok(await auth(third));
        assert.equal((await h.call('POST', '/api/v1/nodes/nod_nosuchnode00/token')).status, 404);
      } finally {
        await h.close();
      }
    });

    it(`on ${backend}: upgrades arriving together are judged together, each on its own token`, async () => {
      const h = await startHarness(backend);
      try {
        const tokens: string[] = [];
        for (let i = 0; i < 3; i++) tokens.push((await h.call('POST', '/api/v1/nodes', { name: `batch-${i}`, ip: `127.0.8.${10 + i}`, roles: ['cdn'] })).body.token);
        const [a, b, c] = tokens as [string, string, string];
        const nodeOf = (t: string) => t.split('.')[0]!;
        const lookup = new NodeTokenLookup(h.database.db);
        const wrongSecret = `${nodeOf(a)}.${'x'.repeat(43)}`;
        const unknownNode = `${nodeOf(a).slice(0, -4)}zzzz.${a.split('.')[1]}`;
        const presented = [a, b, wrongSecret, unknownNode, 'garbage', a, c];
        const results = await Promise.all(presented.map((t) => lookup.authenticate(t)));
        const one = await Promise.all(presented.map((t) => authenticateNodeToken(h.database.db, t)));
        assert.deepEqual(
          results.map((r) => r?.nodeId ?? null),
          one.map((r) => r?.nodeId ?? null),
          'the same answers as one lookup at a time',
        );
        assert.deepEqual(results.map((r) => (r ? 'ok' : null)), ['ok', 'ok', null, null, null, 'ok', 'ok']);
      } finally {
        await h.close();
      }
    });
  }
});

describe('secrets stay out of audit entries and logs', () => {
  it('token secrets, node tokens, session cookies and the TSIG secret appear nowhere', async () => {
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => lines.push(d.toString()));
    const tsig = Buffer.from('tsig-secret-that-must-not-leak').toString('base64');
    const h = await startHarness(
      'pglite',
      { OCDN_DNS_PROVIDER: 'rfc2136', OCDN_RFC2136_SERVER: '127.0.0.1:1', OCDN_RFC2136_TSIG_NAME: 'k', OCDN_RFC2136_TSIG_SECRET: tsig },
      { log: sink },
    );
    try {
      const secrets: string[] = [ADMIN, tsig];
      const t = (await h.call('POST', '/api/v1/tokens', { name: 'leaky', role: 'admin' })).body;
      secrets.push(t.secret, t.secret.split('.')[1]);
      const node = (await h.call('POST', '/api/v1/nodes', { name: 'secretive', ip: '127.0.8.2', roles: ['cdn'] })).body;
      secrets.push(node.token, node.token.split('.')[1]);
      const rotated = (await h.call('POST', `/api/v1/nodes/${node.node.id}/token`)).body.token as string;
      secrets.push(rotated, rotated.split('.')[1]!);
      const res = await h.manager.app.request('/api/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t.secret }) });
      const cookie = /ocdn_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
      secrets.push(cookie, cookie.split('.')[1]!);
      // refused attempts carry secrets too
      await h.call('POST', '/api/v1/session', { token: `${t.secret}x` });
      await h.call('GET', '/api/v1/nodes', undefined, { authorization: `Bearer ${rotated}` });
      await authenticateNodeToken(h.database.db, rotated);
      await h.call('DELETE', `/api/v1/tokens/${t.token.id}`);

      const audit = JSON.stringify((await h.call('GET', '/api/v1/audit?limit=1000')).body);
      const table = JSON.stringify(await h.database.db.execute('select * from audit_log' as never));
      assert.ok(audit.includes('"resourceType":"token"') && lines.length > 10, 'the audit log and the log have content');
      for (const s of secrets) {
        for (const [where, text] of [['audit entries', audit], ['audit table', table], ['log', lines.join('')]] as const) {
          assert.ok(!text.includes(s), `a secret (${s.slice(0, 6)}…) appears in the ${where}`);
        }
      }
    } finally {
      await h.close();
    }
  });
});

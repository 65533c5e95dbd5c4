// Every list route pages: `limit` and `cursor` in, `{items, nextCursor}` out. Walking a list a few items at a time
// gives each item exactly once, in the list's order, while items are added in between; a cursor this API did not give
// out, or a bad limit, is a 400 that names the field.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { domains } from '../src/db/schema.ts';
import { PAGE_DEFAULT } from '../src/http/pages.ts';
import { testBackends } from '../../../test/support/db.ts';
import { startHarness, type Harness } from './harness.ts';

const ZONE = 'cdn.ocdn.test';

for (const backend of testBackends()) {
  describe(`list pages on ${backend}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(backend);
      for (let i = 0; i < 7; i++) {
        assert.equal((await h.call('POST', '/api/v1/nodes', { name: `page-node-${i}`, ip: `127.0.9.${i + 1}`, roles: ['cdn'] })).status, 201);
        assert.equal((await h.call('POST', '/api/v1/tokens', { name: `page-token-${i}`, role: 'viewer' })).status, 201);
        assert.equal((await h.call('POST', '/api/v1/forwarder-groups', { name: `page-group-${i}`, addresses: [`127.0.8.${i + 1}`] })).status, 201);
        await h.manager.ctx.dns.provider.upsert(`page-${i % 3}.${ZONE}`, `127.0.7.${i + 1}`);
      }
      // Domains go straight into the table: paging is what is tested, not ADD_DOMAIN.
      await h.database.db.insert(domains).values(Array.from({ length: 7 }, (_, i) => ({ domain: `page-${i}.example.com`, subDomain: `page-${i}`, origins: ['http://127.0.0.1:9'], status: 'complete' as const, configVersion: 1 })));
    });
    after(() => h.close());

    /** Walks a list `limit` items at a time; adds an item after the first page when `grow` is given. */
    const walk = async (path: string, limit: number, grow?: () => Promise<void>) => {
      const seen: unknown[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r = await h.call('GET', `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
        assert.ok(r.body.items.length <= limit);
        assert.ok('nextCursor' in r.body, `${path} answers nextCursor`);
        seen.push(...r.body.items);
        cursor = r.body.nextCursor;
        if (pages++ === 0) await grow?.();
      } while (cursor);
      return { seen, pages };
    };

    const lists: [string, (x: any) => string][] = [
      ['/api/v1/nodes', (n) => n.id],
      ['/api/v1/domains', (d) => d.domain],
      ['/api/v1/dns/records', (r) => `${r.name} ${r.value}`],
      ['/api/v1/pipelines', (p) => p.id],
      ['/api/v1/tokens', (t) => t.id],
      ['/api/v1/forwarder-groups', (g) => g.id],
      ['/api/v1/views', (v) => v.name],
      ['/api/v1/views/default/forward-zones', (z) => z.id],
      ['/api/v1/vod/tasks', (t) => t.id],
    ];

    for (const [path, keyOf] of lists) {
      it(`${path}: every item once, in order, a page at a time`, async () => {
        const whole = await h.call('GET', `${path}?limit=1000`);
        assert.equal(whole.status, 200);
        assert.equal(whole.body.nextCursor, null);
        const { seen, pages } = await walk(path, 2);
        assert.deepEqual(seen.map(keyOf), whole.body.items.map(keyOf));
        assert.equal(new Set(seen.map(keyOf)).size, seen.length, 'no item twice');
        if (whole.body.items.length > 2) assert.ok(pages > 1);
      });
    }

    it('gives an item added while paging, and no item twice (nodes, in registration order)', async () => {
      const before = (await h.call('GET', '/api/v1/nodes?limit=1000')).body.items.length as number;
      const { seen } = await walk('/api/v1/nodes', 3, async () => {
        assert.equal((await h.call('POST', '/api/v1/nodes', { name: 'page-node-late', ip: '127.0.9.99', roles: ['cdn'] })).status, 201);
      });
      assert.equal(seen.length, before + 1);
      assert.equal((seen.at(-1) as { name: string }).name, 'page-node-late');
    });

    it(`answers the first ${PAGE_DEFAULT} without a limit, and refuses a bad limit or cursor naming the field`, async () => {
      const first = await h.call('GET', '/api/v1/pipelines');
      assert.equal(first.status, 200);
      assert.ok(first.body.items.length <= PAGE_DEFAULT);
      for (const path of ['/api/v1/nodes', '/api/v1/domains', '/api/v1/dns/records', '/api/v1/pipelines', '/api/v1/tokens', '/api/v1/views', '/api/v1/vod/tasks']) {
        for (const bad of ['limit=0', 'limit=1001', 'limit=x', 'cursor=not-ours', `cursor=${Buffer.from('[1,2,3]').toString('base64url')}`, 'cursor=%00']) {
          const r = await h.call('GET', `${path}?${bad}`);
          assert.equal(r.status, 400, `${path}?${bad}: ${JSON.stringify(r.body)}`);
          assert.match(JSON.stringify(r.body), bad.startsWith('limit') ? /limit/ : /cursor/);
        }
      }
    });
  });
}

// DomainDns (OCDN_MODIFI_DNS's batches) on a real database: publishes of several domains that go in one batch each get
// their own outcome, and each domain's addresses kept while all its nodes were down (fail open) are settled apart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { NodeStatus } from '@ocdn/protocol';
import type { Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { domainNodes, domains, nodes } from '../src/db/schema.ts';
import { DomainDns, OCDN_MODIFI_DNS } from '../src/dns/publish.ts';
import type { DnsProvider } from '../src/dns/provider.ts';
import { DnsRecordStore } from '../src/dns/records.ts';
import { createLogger } from '../src/log.ts';
import { PermanentStepError } from '../src/pipelines/types.ts';
import { createTestDatabase, testBackends, type TestDatabase } from '../../../test/support/db.ts';

for (const backend of testBackends()) {
  describe(`DomainDns on ${backend}`, () => {
    let tdb: TestDatabase;
    let database: Database;
    let store: DnsRecordStore;
    let dd: DomainDns;
    const log = createLogger('silent');

    before(async () => {
      tdb = await createTestDatabase(backend);
      database = await tdb.open();
      await migrate(database.db);
      store = new DnsRecordStore(database.db);
      // The built-in provider's records, without its DNS server (nothing here answers queries).
      const provider: DnsProvider = {
        name: 'builtin',
        upsert: async (name, ip) => void (await store.upsert(name, ip, 60)),
        remove: async (name, ip) => void (await store.remove(name, ip)),
      };
      dd = new DomainDns({ db: database.db, database, dns: { store, provider, server: null } });
    });
    after(async () => {
      await database?.close();
      await tdb?.cleanup();
    });

    const node = async (i: number, status: NodeStatus) => {
      const n = { id: `nod_dd_${i}`, name: `dd-${i}`, ip: `127.0.9.${i}`, roles: ['cdn' as const], agentPort: 1, token: 't', tokenHash: `h${i}`, status };
      await database.db.insert(nodes).values(n);
      return n;
    };
    const domain = async (name: string, on: { id: string; kept?: boolean }[]) => {
      await database.db.insert(domains).values({ domain: name, subDomain: name.split('.')[0]!, origins: ['http://127.0.0.1:9'], status: 'normal', configVersion: 1 });
      for (const n of on) await database.db.insert(domainNodes).values({ domain: name, nodeId: n.id, status: 'new', dnsKept: n.kept ?? false });
      return { domain: name, name: `${name.split('.')[0]}.cdn.test` };
    };
    const kept = async (d: string, nodeId: string) =>
      (await database.db.select({ k: domainNodes.dnsKept }).from(domainNodes).where(and(eq(domainNodes.domain, d), eq(domainNodes.nodeId, nodeId))))[0]!.k;

    it('gives each publish of a batch across domains its own outcome, and settles each domain\'s kept addresses', async () => {
      const [a, b, c, down] = [await node(1, 'normal'), await node(2, 'normal'), await node(3, 'normal'), await node(4, 'fault')];
      const plain = await domain('plain.dd.example', [a, b]);
      const withDown = await domain('withdown.dd.example', [a, down]);
      // Failing open: c's address stays published while every node of the domain was down.
      const failedOpen = await domain('failedopen.dd.example', [a, { id: c.id, kept: true }]);
      await store.upsert(failedOpen.name, c.ip, 60);
      // Kept, and now published again itself: its address stays, no longer kept.
      const back = await domain('back.dd.example', [{ id: b.id, kept: true }]);
      await store.upsert(back.name, b.ip, 60);

      const publish = (d: { domain: string; name: string }, n: { id: string; ip: string }) =>
        OCDN_MODIFI_DNS(dd, { domain: d.domain, name: d.name, nodeId: n.id, ip: n.ip, log, requireNormal: true });
      const outcomes = await Promise.allSettled([
        publish(plain, a),
        publish(plain, b),
        publish(withDown, a),
        publish(withDown, down),
        publish(failedOpen, a),
        publish(back, b),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      const refused = (outcomes[3] as PromiseRejectedResult).reason;
      assert.ok(refused instanceof PermanentStepError && /127\.0\.9\.4 is fault/.test(refused.message), String(refused));

      assert.deepEqual((await store.addressesOf(plain.name)).sort(), [a.ip, b.ip]);
      assert.deepEqual(await store.addressesOf(withDown.name), [a.ip]);
      assert.deepEqual(await store.addressesOf(failedOpen.name), [a.ip], 'the kept address left once a node served');
      assert.equal(await kept(failedOpen.domain, c.id), false);
      assert.deepEqual(await store.addressesOf(back.name), [b.ip]);
      assert.equal(await kept(back.domain, b.id), false);
    });
  });
}

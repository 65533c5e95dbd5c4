import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { fwdForwarderGroups } from '../src/db/schema.ts';
import { testBackends } from '../../../test/support/db.ts';
import { startHarness, type Harness } from './harness.ts';

for (const backend of testBackends()) {
  describe(`forwarding API on ${backend}`, () => {
    let h: Harness;
    const ids: Record<string, string> = {};
    const post = async (path: string, body: unknown, status = 201) => {
      const r = await h.call('POST', path, body);
      assert.equal(r.status, status, `${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const fieldOf = (r: { body: any }) => r.body.error.details?.map((d: { field: string }) => d.field) ?? [];

    before(async () => {
      h = await startHarness(backend, { OCDN_TZ: 'UTC' });
      ids.fwA = (await post('/api/v1/forwarder-groups', { name: 'upstream-a', addresses: ['10.1.1.1', '10.1.1.2:5353', '2001:db8::1', '[2001:db8::2]:53'] })).id;
      ids.fwB = (await post('/api/v1/forwarder-groups', { name: 'upstream-b', addresses: ['10.2.2.2'] })).id;
      ids.corp = (await post('/api/v1/domain-groups', { name: 'corp', domains: ['corp.example', 'Intranet.Example'] })).id;
      ids.nights = (await post('/api/v1/time-schedulers', { name: 'weeknights', timeType: 'weekly', timePeriods: [{ beginTime: '1 22:00', endTime: '2 06:00' }] })).id;
      ids.days = (await post('/api/v1/time-schedulers', { name: 'weekdays', timeType: 'weekly', timePeriods: [{ beginTime: '1 8:00', endTime: '1 18:00' }] })).id;
    });
    after(async () => {
      await h?.close();
    });

    it('has view default, which matches any client and cannot be deleted', async () => {
      const v = await h.call('GET', '/api/v1/views/default');
      assert.deepEqual(v.body, { name: 'default', matchClients: ['any'], comment: 'matches every client' });
      assert.equal((await h.call('DELETE', '/api/v1/views/default')).status, 409);
      const inner = await post('/api/v1/views', { name: 'inner', matchClients: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'] });
      assert.deepEqual(inner.matchClients, ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
      const badMatch = await h.call('POST', '/api/v1/views', { name: 'x', matchClients: ['10.0.0.0/33'] });
      assert.equal(badMatch.status, 400);
      assert.deepEqual(fieldOf(badMatch), ['matchClients.0']);
    });

    it('refuses bad forwarder addresses and PATCH of fields that may not change, naming the field', async () => {
      for (const [addresses, field] of [
        [['10.0.0.300'], 'addresses.0'],
        [['10.0.0.1', '10.0.0.1:0'], 'addresses.1'],
        [['10.0.0.1:70000'], 'addresses.0'],
        [['example.com'], 'addresses.0'],
        [['[10.0.0.1]:53'], 'addresses.0'],
      ] as const) {
        const r = await h.call('POST', '/api/v1/forwarder-groups', { name: `bad-${field}-${addresses.length}`, addresses });
        assert.equal(r.status, 400, JSON.stringify(addresses));
        assert.deepEqual(fieldOf(r), [field], JSON.stringify(r.body));
      }
      const rename = await h.call('PATCH', `/api/v1/forwarder-groups/${ids.fwA}`, { name: 'renamed' });
      assert.equal(rename.status, 400);
      assert.deepEqual(fieldOf(rename), ['name']);
      assert.equal((await h.call('POST', '/api/v1/forwarder-groups', { name: 'upstream-a', addresses: ['10.9.9.9'] })).status, 409);
    });

    it('keeps domain groups apart: a domain equal to, under or above another group’s domain is a conflict', async () => {
      for (const d of ['corp.example', 'a.corp.example', 'example']) {
        const r = await h.call('POST', '/api/v1/domain-groups', { name: `g-${d}`, domains: [d] });
        assert.equal(r.status, 409, d);
        assert.equal(r.body.error.details.domainGroupId, ids.corp);
      }
      assert.equal((await h.call('POST', '/api/v1/domain-groups', { name: 'g-bad', domains: ['not a domain'] })).status, 400);
      assert.equal((await h.call('GET', `/api/v1/domain-groups/${ids.corp}`)).body.domains[1], 'intranet.example', 'names are lower-cased');
    });

    it('checks scheduler times by the seed’s rules with 400s that name the field', async () => {
      for (const [timeType, beginTime, endTime, field] of [
        ['daily', '25:00', '1:00', 'timePeriods.0.beginTime'],
        ['weekly', '7 1:00', '1 1:00', 'timePeriods.0.beginTime'],
        ['monthly', '13 1 1:00', '1 1 1:00', 'timePeriods.0.beginTime'],
        ['daily', '5:30', '5:10', 'timePeriods.0'],
        ['weekly', '3 10:00', '3 9:00', 'timePeriods.0'],
        ['date', '2027 1 2 0:00', '2027 1 1 0:00', 'timePeriods.0'],
      ] as const) {
        const r = await h.call('POST', '/api/v1/time-schedulers', { name: `t-${beginTime}`, timeType, timePeriods: [{ beginTime, endTime }] });
        assert.equal(r.status, 400, `${timeType} ${beginTime}–${endTime}`);
        assert.deepEqual(fieldOf(r), [field], JSON.stringify(r.body));
      }
      assert.equal((await h.call('POST', '/api/v1/time-schedulers', { name: 'tz', timeType: 'daily', timePeriods: [{ beginTime: '1:00', endTime: '2:00' }], timezone: 'Nowhere/City' })).status, 400);
      const yearly = await post('/api/v1/time-schedulers', { name: 'winter', timeType: 'yearly', timePeriods: [{ beginTime: '12 2 3:00', endTime: '2 1 15:00' }], timezone: 'Europe/Berlin' });
      assert.equal(yearly.timeType, 'monthly', 'yearly is the seed’s monthly');
      assert.equal((await h.call('PATCH', `/api/v1/time-schedulers/${yearly.id}`, { timezone: 'UTC' })).status, 400, 'timezone may not change');
    });

    it('creates zones of the three types, requiring what each needs', async () => {
      const zones = '/api/v1/views/default/forward-zones';
      const missing = await h.call('POST', zones, { forwardItemType: 'domain', forwarderGroupIds: [ids.fwA], forwardStyle: 'only' });
      assert.deepEqual([missing.status, fieldOf(missing)], [400, ['domain']]);
      const noGroups = await h.call('POST', zones, { forwardItemType: 'domain_group', domainGroupIds: [], forwarderGroupIds: [ids.fwA], forwardStyle: 'only' });
      assert.deepEqual([noGroups.status, fieldOf(noGroups)], [400, ['domainGroupIds']]);
      const noFw = await h.call('POST', zones, { forwardItemType: 'root', forwarderGroupIds: [], forwardStyle: 'first' });
      assert.deepEqual([noFw.status, fieldOf(noFw)], [400, ['forwarderGroupIds']]);
      const unknown = await h.call('POST', zones, { forwardItemType: 'root', forwarderGroupIds: ['fwg_nope'], forwardStyle: 'first' });
      assert.deepEqual([unknown.status, fieldOf(unknown)], [400, ['forwarderGroupIds.0']]);
      const badSched = await h.call('POST', zones, { forwardItemType: 'root', forwarderGroupIds: [ids.fwA], timeScheduler: 'tms_nope', forwardStyle: 'first' });
      assert.deepEqual([badSched.status, fieldOf(badSched)], [400, ['timeScheduler']]);
      assert.equal((await h.call('POST', '/api/v1/views/nope/forward-zones', { forwardItemType: 'root', forwarderGroupIds: [ids.fwA], forwardStyle: 'first' })).status, 404);

      const corp = await post(zones, { forwardItemType: 'domain_group', domainGroupIds: [ids.corp], domain: null, forwarderGroupIds: [ids.fwA], forwardStyle: 'only' });
      assert.equal(corp.active, true, 'no scheduler: in effect at once');
      ids.zCorp = corp.id;
      const root = await post(zones, { forwardItemType: 'root', forwarderGroupIds: [ids.fwB], timeScheduler: ids.nights, forwardStyle: 'first' }, 409);
      assert.equal(root.error.details.zoneId, corp.id, 'root contains corp.example; other style; no scheduler on corp = always');
      const other = await post(zones, { forwardItemType: 'domain', domain: 'Other.Example', forwarderGroupIds: [ids.fwB], timeScheduler: ids.nights, forwardStyle: 'first' });
      assert.equal(other.domain, 'other.example');
      ids.zOther = other.id;
      const sameDomainDays = await post(zones, { forwardItemType: 'domain', domain: 'x.other.example', forwarderGroupIds: [ids.fwA], timeScheduler: ids.days, forwardStyle: 'only' });
      assert.ok(sameDomainDays.id, 'days and nights never overlap: no conflict');
      const clash = await post(zones, { forwardItemType: 'domain', domain: 'x.other.example', forwarderGroupIds: [ids.fwA], timeScheduler: ids.nights, forwardStyle: 'only' }, 409);
      assert.equal(clash.error.details.zoneId, other.id);
    });

    it("the scheduler holds the model between ticks and reads it again when the forwarding version moves", async () => {
      const sync = h.manager.loops.forwarding;
      const hashOf = async () => {
        // The loop's own sync, started by a PATCH, stores its model too: let it finish first, or an older read lands last.
        await sync.settled();
        await sync.sync('test');
        return (sync as unknown as { held: { desired: { hash: string } } }).held.desired.hash;
      };
      const first = await hashOf();
      assert.equal(await hashOf(), first, 'a quiet tick: the same desired state');
      // A row changed behind the API's back is not seen: the model is held until the version moves...
      // (upstream-a serves corp, which is always in effect)
      const [group] = await h.database.db.select().from(fwdForwarderGroups).where(eq(fwdForwarderGroups.id, ids.fwA!));
      const addresses = group!.addresses;
      await h.database.db.update(fwdForwarderGroups).set({ addresses: ['10.9.9.9'] }).where(eq(fwdForwarderGroups.id, ids.fwA!));
      assert.equal(await hashOf(), first);
      // ...which any change through the API does, on any replica.
      assert.equal((await h.call('PATCH', '/api/v1/views/default', { comment: 'touched' })).status, 200);
      const after = await hashOf();
      assert.notEqual(after, first, 'the model was read again');
      await h.database.db.update(fwdForwarderGroups).set({ addresses }).where(eq(fwdForwarderGroups.id, ids.fwA!));
      assert.equal((await h.call('PATCH', '/api/v1/views/default', { comment: '' })).status, 200);
      assert.equal(await hashOf(), first, 'back to the first state, and to its hash');
    });

    it('PATCH takes forwarderGroupIds, timeScheduler and comment only, and checks conflicts again', async () => {
      const path = `/api/v1/views/default/forward-zones/${ids.zOther}`;
      const r = await h.call('PATCH', path, { domain: 'y.example' });
      assert.deepEqual([r.status, fieldOf(r)], [400, ['domain']]);
      const toAlways = await h.call('PATCH', path, { timeScheduler: null });
      assert.equal(toAlways.status, 409, 'always-on other.example would meet the weekday zone below it');
      const ok = await h.call('PATCH', path, { comment: 'nights', forwarderGroupIds: [ids.fwA, ids.fwB] });
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body.forwarderGroupIds, [ids.fwA, ids.fwB]);
    });

    it('refuses to delete what zones use (409 naming them), and a scheduler change that would conflict', async () => {
      const fg = await h.call('DELETE', `/api/v1/forwarder-groups/${ids.fwA}`);
      assert.equal(fg.status, 409);
      assert.ok(fg.body.error.details.zoneIds.includes(ids.zCorp));
      assert.equal((await h.call('DELETE', `/api/v1/domain-groups/${ids.corp}`)).status, 409);
      assert.equal((await h.call('DELETE', `/api/v1/time-schedulers/${ids.nights}`)).status, 409);
      const widen = await h.call('PATCH', `/api/v1/time-schedulers/${ids.days}`, { timePeriods: [{ beginTime: '0 0:00', endTime: '6 23:59' }] });
      assert.equal(widen.status, 409, 'the weekday zone would now meet the night zone above it');
      assert.equal((await h.call('GET', `/api/v1/time-schedulers/${ids.days}`)).body.timePeriods[0].endTime, '1 18:00', 'unchanged');
      assert.equal((await h.call('DELETE', `/api/v1/views/default/forward-zones/${ids.zCorp}`)).status, 204);
      assert.equal((await h.call('DELETE', `/api/v1/domain-groups/${ids.corp}`)).status, 204);
      assert.equal((await h.call('GET', `/api/v1/views/default/forward-zones/${ids.zCorp}`)).status, 404);
    });
  });
}

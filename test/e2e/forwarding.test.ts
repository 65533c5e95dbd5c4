// DNS forwarding end to end: the manager (a one-second tick), three DNS agents driving real BIND with two views,
// real BIND whose named.conf has no view at all (the agent's include at top level, BIND's implicit view `_default`)
// and real Unbound, and two upstream resolvers that answer the same names differently. Checked with dig.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { requireProgram } from '../support/programs.ts';
import { freePort, startAgentProcess, startManagerProcess, tempDir, type ManagerHandle, type Proc } from '../support/procs.ts';
import { addLoopbackAddress, digA, startBind, startUnbound, startUpstream, type Resolver } from '../support/resolvers.ts';
import { waitFor } from '../support/wait.ts';

const BIND_IP = '127.0.7.10';
const UNBOUND_IP = '127.0.7.11';
const FLAT_BIND_IP = '127.0.7.14';
const INNER_CLIENT = '127.0.7.21';
const OTHER_CLIENT = '127.0.7.22';
const A = '10.0.0.1';
const B = '10.0.0.2';

describe('DNS forwarding end to end (BIND with two views, BIND without views, Unbound)', () => {
  const tmp = tempDir('fwd-e2e');
  const undo: (() => void)[] = [];
  const stops: (() => Promise<void>)[] = [];
  let m: ManagerHandle;
  let tdb: TestDatabase | undefined;
  let bind: Resolver;
  let flatBind: Resolver;
  let unbound: Resolver;
  let bindPort = 0;
  let flatBindPort = 0;
  let unboundPort = 0;
  let upA = '';
  let upB = '';
  const agents: Proc[] = [];
  let ready = false;

  const viaBind = (name: string, source = OTHER_CLIENT) => digA(BIND_IP, bindPort, name, source);
  const viaFlatBind = (name: string) => digA(FLAT_BIND_IP, flatBindPort, name);
  const viaUnbound = (name: string) => digA(UNBOUND_IP, unboundPort, name);
  const post = (path: string, body: unknown) => m.json(path, { method: 'POST', body: JSON.stringify(body) });
  const patch = (path: string, body: unknown) => m.json(path, { method: 'PATCH', body: JSON.stringify(body) });
  const answers = (what: string, get: () => string[], want: string[], timeoutMs = 15_000) =>
    waitFor(what, () => JSON.stringify(get()) === JSON.stringify(want), { timeoutMs, intervalMs: 100 }).catch((err) => {
      throw new Error(`${(err as Error).message}; last answer ${JSON.stringify(get())}\nmanager:\n${m.proc.output.slice(-3000)}\nagents:\n${agents.map((a) => a.output.slice(-1500)).join('\n---\n')}`);
    });

  before(async (t) => {
    for (const p of ['named', 'unbound', 'dig', 'ip', 'rndc', 'unbound-control']) if (!requireProgram(t, p)) return;
    try {
      for (const ip of [BIND_IP, FLAT_BIND_IP, UNBOUND_IP]) undo.push(addLoopbackAddress(ip));
    } catch (err) {
      if (process.env.CI === 'true') throw err;
      return; // not root: the tests skip themselves below
    }
    const pA = await freePort('127.0.7.2');
    const pB = await freePort('127.0.7.3');
    upA = `127.0.7.2:${pA}`;
    upB = `127.0.7.3:${pB}`;
    const ua = await startUpstream('127.0.7.2', pA, A);
    const ub = await startUpstream('127.0.7.3', pB, B);
    stops.push(() => ua.stop(), () => ub.stop());
    bindPort = await freePort(BIND_IP);
    unboundPort = await freePort(UNBOUND_IP);
    bind = await startBind(join(tmp.path, 'bind'), BIND_IP, bindPort, await freePort(), [
      { name: 'inner', matchClients: [INNER_CLIENT] },
      { name: 'default', matchClients: ['any'] },
    ]);
    stops.push(() => bind.stop());
    flatBindPort = await freePort(FLAT_BIND_IP);
    flatBind = await startBind(join(tmp.path, 'bind-flat'), FLAT_BIND_IP, flatBindPort, await freePort(), []);
    stops.push(() => flatBind.stop());
    unbound = await startUnbound(join(tmp.path, 'unbound'), UNBOUND_IP, unboundPort, await freePort());
    stops.push(() => unbound.stop());
    if (process.env.TEST_DATABASE_URL) tdb = await createTestDatabase('postgres');
    m = await startManagerProcess({
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : { OCDN_DATA_DIR: join(tmp.path, 'data') }),
      OCDN_FORWARD_TICK_MS: '1000',
      OCDN_TZ: 'UTC',
    });
    for (const [name, ip, resolver] of [
      ['dns-bind', '127.0.7.12', bind],
      ['dns-bind-flat', '127.0.7.15', flatBind],
      ['dns-unbound', '127.0.7.13', unbound],
    ] as const) {
      const port = await freePort(ip);
      const r = await post('/api/v1/nodes', { name, ip, roles: ['dns'], agentPort: port });
      agents.push(startAgentProcess(m.url, r.token, ip, port, { ...resolver.agentEnv, OCDN_LOG_LEVEL: 'info', OCDN_RECONNECT_MAX_MS: '500' }));
      await waitFor(`${name} normal`, async () => (await m.json(`/api/v1/nodes/${r.node.id}`)).status === 'normal', { timeoutMs: 20_000 });
    }
    await post('/api/v1/views', { name: 'inner', matchClients: [INNER_CLIENT] });
    ready = true;
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await m?.proc.stop();
    for (const s of stops.reverse()) await s().catch(() => {});
    await tdb?.cleanup();
    for (const u of undo) u();
    tmp.remove();
  });

  /**
   * What one test creates, deleted after it in reverse order (zones before the groups they use): each test makes its
   * own groups and zones under its own names, so none depends on another having run.
   */
  const scope = (t: { after(fn: () => Promise<void>): void }) => {
    const undo: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const u of undo.reverse()) await u();
    });
    const create = async (path: string, body: unknown) => {
      const r = await post(path, body);
      const base = path.replace(/\?.*$/, '');
      undo.push(() => m.api(`${base}/${r.id}`, { method: 'DELETE' }));
      return r as { id: string; active: boolean };
    };
    return {
      group: async (name: string, address: string) => (await create('/api/v1/forwarder-groups', { name, addresses: [address] })).id,
      zone: (view: string, body: Record<string, unknown>) => create(`/api/v1/views/${view}/forward-zones`, body),
      scheduler: (body: Record<string, unknown>) => create('/api/v1/time-schedulers', body),
    };
  };

  it('a zone forwards through BIND (views and none) and Unbound to its upstream', async (t) => {
    if (!ready) return t.skip('needs root for ip addr add, and named/unbound/dig');
    const my = scope(t);
    assert.deepEqual(viaBind('www.one.test'), [], 'nothing is forwarded yet (the root hints lead nowhere)');
    const gA = await my.group('one-a', upA);
    await my.zone('default', { forwardItemType: 'domain', domain: 'one.test', forwarderGroupIds: [gA], forwardStyle: 'only' });
    await answers('BIND forwards to A', () => viaBind('www.one.test'), [A]);
    await answers('BIND without views forwards to A', () => viaFlatBind('www.one.test'), [A]);
    await answers('Unbound forwards to A (test. is one of its default local zones)', () => viaUnbound('www.one.test'), [A]);
  });

  it('a forwarder group change reaches the answers at once, with no stale cache', async (t) => {
    if (!ready) return t.skip('needs root');
    const my = scope(t);
    const g = await my.group('two-g', upA);
    await my.zone('default', { forwardItemType: 'domain', domain: 'two.test', forwarderGroupIds: [g], forwardStyle: 'only' });
    await answers('BIND asks A', () => viaBind('www.two.test'), [A]);
    await answers('BIND without views asks A', () => viaFlatBind('www.two.test'), [A]);
    await answers('Unbound asks A', () => viaUnbound('www.two.test'), [A]);
    await patch(`/api/v1/forwarder-groups/${g}`, { addresses: [upB] });
    await answers('BIND asks B now', () => viaBind('www.two.test'), [B], 5000);
    await answers('BIND without views asks B now (its implicit view _default was flushed)', () => viaFlatBind('www.two.test'), [B], 5000);
    await answers('Unbound asks B now', () => viaUnbound('www.two.test'), [B], 5000);
    await patch(`/api/v1/forwarder-groups/${g}`, { addresses: [upA] });
    await answers('and back to A', () => viaBind('www.two.test'), [A], 5000);
    await answers('and back to A without views too', () => viaFlatBind('www.two.test'), [A], 5000);
    assert.equal((flatBind.output().match(/flushing tree '[^']+' in cache view 'default' failed/g) ?? []).length <= 1, true, 'the agent learnt _default from its first flush');
  });

  it('two views with different matchClients: each source address gets its view’s answer', async (t) => {
    if (!ready) return t.skip('needs root');
    const my = scope(t);
    const gA = await my.group('three-a', upA);
    const gB = await my.group('three-b', upB);
    await my.zone('default', { forwardItemType: 'domain', domain: 'three.test', forwarderGroupIds: [gA], forwardStyle: 'only' });
    await my.zone('inner', { forwardItemType: 'domain', domain: 'three.test', forwarderGroupIds: [gB], forwardStyle: 'only' });
    await answers('the inner client gets B', () => viaBind('www.three.test', INNER_CLIENT), [B]);
    await answers('other clients get the default view: A', () => viaBind('www.three.test', OTHER_CLIENT), [A]);
    await waitFor('unbound agent warned that it has no views', () => agents[2]!.output.includes('forward zones applied') && m.proc.output.includes('no per-view forwarders'), { timeoutMs: 10_000 });
  });

  it('a scheduler window switches forwarding on at the tick it opens and off at the tick it closes', async (t) => {
    if (!ready) return t.skip('needs root');
    const my = scope(t);
    const g = await my.group('sched-b', upB);
    // The next whole minute, for one minute (UTC, as OCDN_TZ says).
    const now = new Date();
    const begin = new Date(Math.ceil((now.getTime() + 1000) / 60_000) * 60_000);
    const end = new Date(begin.getTime() + 60_000);
    const hm = (d: Date) => `${d.getUTCHours()}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const sched = await my.scheduler({ name: 'one-minute', timeType: 'daily', timePeriods: [{ beginTime: hm(begin), endTime: hm(end) }] });
    const z = await my.zone('default', { forwardItemType: 'domain', domain: 'sched.test', forwarderGroupIds: [g], timeScheduler: sched.id, forwardStyle: 'only' });
    assert.equal(z.active, false);
    assert.deepEqual(viaBind('www.sched.test'), [], 'closed: not forwarded');
    await waitFor('the window opens', () => Date.now() >= begin.getTime(), { timeoutMs: 65_000, intervalMs: 100 });
    await answers('BIND forwards sched.test within a tick of the opening', () => viaBind('www.sched.test'), [B], 3000);
    const openedAt = Date.now() - begin.getTime();
    assert.equal((await m.json(`/api/v1/views/default/forward-zones/${z.id}`)).active, true);
    await answers('Unbound too', () => viaUnbound('www.sched.test'), [B], 3000);
    await waitFor('the window closes', () => Date.now() >= end.getTime(), { timeoutMs: 65_000, intervalMs: 100 });
    await answers('closed again: the cached answer is flushed', () => viaBind('www.sched.test'), [], 3000);
    assert.equal((await m.json(`/api/v1/views/default/forward-zones/${z.id}`)).active, false);
    t.diagnostic(`switched on ${openedAt} ms after the minute began`);
  });

  it('deleting a zone stops its forwarding', async (t) => {
    if (!ready) return t.skip('needs root');
    const my = scope(t);
    const gA = await my.group('five-a', upA);
    const gB = await my.group('five-b', upB);
    const z = await my.zone('default', { forwardItemType: 'domain', domain: 'five.test', forwarderGroupIds: [gA], forwardStyle: 'only' });
    await my.zone('inner', { forwardItemType: 'domain', domain: 'five.test', forwarderGroupIds: [gB], forwardStyle: 'only' });
    await answers('BIND forwards five.test', () => viaBind('www.five.test'), [A]);
    await answers('BIND without views too', () => viaFlatBind('www.five.test'), [A]);
    await answers('Unbound too', () => viaUnbound('www.five.test'), [A]);
    await answers('the inner view its own way', () => viaBind('www.five.test', INNER_CLIENT), [B]);
    await m.api(`/api/v1/views/default/forward-zones/${z.id}`, { method: 'DELETE' });
    await answers('BIND no longer forwards five.test for the default view', () => viaBind('www.five.test'), []);
    await answers('BIND without views no longer forwards it either', () => viaFlatBind('www.five.test'), [], 5000);
    await answers('Unbound neither', () => viaUnbound('www.five.test'), []);
    assert.deepEqual(viaBind('www.five.test', INNER_CLIENT), [B], 'the inner view keeps its own zone');
  });
});

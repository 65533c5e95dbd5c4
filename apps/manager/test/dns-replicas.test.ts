// The built-in DNS of two manager replicas on one PostgreSQL database, asked with dig.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { freePort, startAgentProcess } from '../../../test/support/procs.ts';
import { requireProgram } from '../../../test/support/programs.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { openDatabase } from '../src/db/client.ts';
import { parseManagerEnv } from '../src/env.ts';
import { createLogger } from '../src/log.ts';
import { startManager } from '../src/start-manager.ts';
import { ADMIN, startHarness } from './harness.ts';

const run = promisify(execFile);
const ZONE = 'cdn.ocdn.test';

describe('built-in DNS on two replicas (PostgreSQL)', { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL' }, () => {
  it('gives the same records under the same SOA serial on both, and both name the same name servers', async (t) => {
    const dig = requireProgram(t, 'dig');
    if (!dig) return;
    const ns = `ns1.${ZONE}=127.0.0.1,ns2.${ZONE}=127.0.0.2`;
    const a = await startHarness('postgres', { OCDN_DNS_NS: ns });
    const database = await openDatabase({ url: a.url! });
    const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: ADMIN, OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_DNS_NS: ns, OCDN_LOG_LEVEL: 'silent' });
    const b = await startManager(env, { database, listen: false, log: createLogger('silent') });
    try {
      const short = async (port: number, ...args: string[]) => (await run(dig, ['@127.0.0.1', '-p', String(port), '+short', '+norec', '+time=2', '+tries=1', ...args])).stdout.trim();
      const portA = a.manager.ctx.dns.server!.port;
      const portB = b.ctx.dns.server!.port;
      await a.manager.ctx.dns.provider.upsert(`both.${ZONE}`, '127.0.0.31');
      await b.ctx.dns.provider.upsert(`both.${ZONE}`, '127.0.0.32');
      const view = async (port: number) => ({ a: (await short(port, `both.${ZONE}`, 'A')).split('\n').sort(), serial: (await short(port, ZONE, 'SOA')).split(' ')[2] });
      await waitFor('both replicas answer the same records under the same serial', async () => {
        const [va, vb] = [await view(portA), await view(portB)];
        return va.a.length === 2 && JSON.stringify(va) === JSON.stringify(vb);
      }, { timeoutMs: 10_000 });
      for (const port of [portA, portB]) assert.equal((await short(port, ZONE, 'NS')).split('\n').sort().join(' '), `ns1.${ZONE}. ns2.${ZONE}.`);
    } finally {
      await b.stop();
      await database.close();
      await a.close();
    }
  });

  it("leaves out of its answers the address of a node another replica decided faulty, at the decision's commit", async (t) => {
    const dig = requireProgram(t, 'dig');
    if (!dig) return;
    // Replica a holds the agent's link and decides; replica b only hears of it through the database.
    const a = await startHarness('postgres', { OCDN_HTTP_HOST: '127.0.0.1' }, { listen: true });
    const database = await openDatabase({ url: a.url! });
    const env = parseManagerEnv({ OCDN_ADMIN_TOKEN: ADMIN, OCDN_HTTP_PORT: '0', OCDN_DNS_PORT: '0', OCDN_LOG_LEVEL: 'silent' });
    const b = await startManager(env, { database, listen: false, log: createLogger('silent') });
    const ip = '127.0.0.54';
    const agentPort = await freePort(ip);
    const r = await a.call('POST', '/api/v1/nodes', { name: 'peer', ip, roles: ['cdn'], agentPort });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const agent = startAgentProcess(a.manager.url, r.body.token, ip, agentPort);
    try {
      const answersOfB = async (name: string) => (await run(dig, ['@127.0.0.1', '-p', String(b.ctx.dns.server!.port), '+short', '+norec', '+time=2', '+tries=1', name, 'A'])).stdout.trim().split('\n').filter(Boolean).sort();
      await waitFor('node normal', async () => (await a.call('GET', `/api/v1/nodes/${r.body.node.id}`)).body.status === 'normal', { timeoutMs: 20_000 });
      // Published for a name of its own (no domain: no FAULT_NODE step deletes it), with another address.
      const name = `peer.${ZONE}`;
      await a.manager.ctx.dns.provider.upsert(name, ip);
      await a.manager.ctx.dns.provider.upsert(name, '127.0.0.99');
      await waitFor('b answers both', async () => (await answersOfB(name)).length === 2, { timeoutMs: 10_000 });
      agent.child.kill('SIGKILL');
      await waitFor('b leaves the address out', async () => (await answersOfB(name)).join(' ') === '127.0.0.99', { timeoutMs: 10_000 });
      const listed = (await b.ctx.dns.store.snapshot()).records.map((x) => `${x.name} ${x.value}`);
      assert.ok(listed.includes(`${name} ${ip}`), 'still published: withheld from the answers only');
    } finally {
      await agent.stop();
      await b.stop();
      await database.close();
      await a.close();
    }
  });
});

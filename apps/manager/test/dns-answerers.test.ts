// Several processes answering on one port (OCDN_DNS_ANSWERERS=2, OCDN_DNS_ISOLATION=process): each answers with
// every record and every withheld address, their counters add up, one killed restarts them all on the same port, and
// they end with the manager.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { requireProgram } from '../../../test/support/programs.ts';
import { freePort, startManagerProcess, tempDir } from '../../../test/support/procs.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { childrenOf, processGone } from '../../../test/support/proc-tree.ts';
import { schedOf } from '../../../test/support/sched.ts';
import { startHarness, type Harness } from './harness.ts';
import { WORKER_CONFIG_ENV, type WorkerConfig } from '../src/dns/messages.ts';

const run = promisify(execFile);
const ZONE = 'cdn.ocdn.test';


describe('built-in DNS answered by two processes on one port (OCDN_DNS_ANSWERERS=2)', () => {
  let h: Harness;
  let dig: string | null = null;
  /** The sorted addresses answered for `name`, over UDP or TCP, one try. */
  const answer = async (name: string, tcp = false) =>
    (await run(dig!, ['@127.0.0.1', '-p', String(h.manager.ctx.dns.server!.port), '+short', '+time=2', '+tries=1', ...(tcp ? ['+tcp'] : []), name, 'A']).catch(() => ({ stdout: '' }))).stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .sort()
      .join(' ');

  before(async (t) => {
    dig = requireProgram(t, 'dig');
    h = await startHarness('pglite', { OCDN_DNS_ISOLATION: 'process', OCDN_DNS_ANSWERERS: '2' });
  });
  after(async () => {
    await h?.close();
  });

  /** Runs `fn` while `pid` is stopped (SIGSTOP): only the other process can take a query. */
  async function withStopped<T>(pid: number, fn: () => Promise<T>): Promise<T> {
    process.kill(pid, 'SIGSTOP');
    try {
      return await fn();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }

  it('answers from each process, over UDP and TCP, with every record and withheld address; counters summed', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    const server = h.manager.ctx.dns.server!;
    const pids = server.pids;
    assert.equal(pids.length, 2);
    assert.notEqual(pids[0], pids[1]);
    const name = `both.${ZONE}`;
    await h.manager.ctx.dns.provider.upsert(name, '127.0.0.21');
    await h.manager.ctx.dns.provider.upsert(name, '127.0.0.22');
    server.withhold('127.0.0.22');
    const before = (await server.stats())!;
    for (const pid of pids) {
      await withStopped(pid, async () => {
        // Changes reach a process in a few ms: each must have both.
        await waitFor(`answers without ${pid}`, async () => (await answer(name)) === '127.0.0.21', { timeoutMs: 5_000 });
        for (let i = 0; i < 9; i++) assert.equal(await answer(name), '127.0.0.21');
        assert.equal(await answer(name, true), '127.0.0.21', 'over TCP');
      });
    }
    const counted = (await server.stats())!;
    assert.ok(counted.count - before.count >= 22, `each process's answers counted (${counted.count - before.count})`);
    assert.equal(counted.withheld, 1);
    server.release('127.0.0.22');
    await waitFor('the address given back', async () => (await answer(name)) === '127.0.0.21 127.0.0.22', { timeoutMs: 5_000 });
  });

  it('answers at the DNS priority in each process (OCDN_DNS_NICE -10, OCDN_DNS_RT_PRIORITY 1)', async (t) => {
    if (process.getuid?.() !== 0 && !process.env.CI) return t.skip('raising a priority needs root or CAP_SYS_NICE');
    for (const pid of h.manager.ctx.dns.server!.pids) assert.deepEqual(schedOf(`/proc/${pid}/stat`), { nice: -10, policy: 2, rtPriority: 1 });
  });

  it('starts both again on the same port when one is killed (kill -9), with every record', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    const server = h.manager.ctx.dns.server!;
    await h.manager.ctx.dns.provider.upsert(`killed.${ZONE}`, '127.0.0.23');
    const { port } = server;
    const old = server.pids;
    process.kill(old[1]!, 'SIGKILL');
    // Listening again: the new pair's first process reported its thread (exited() cleared the old one's).
    await waitFor('two new processes listening', () => server.tid !== undefined && !old.includes(server.tid) && server.pids.length === 2 && server.pids.every((p) => !old.includes(p)), { timeoutMs: 15_000 });
    await waitFor('the other one ended', () => processGone(old[0]!), { timeoutMs: 5_000 });
    assert.equal(server.port, port);
    for (const pid of server.pids) {
      await withStopped(pid, () => waitFor(`answers without ${pid}`, async () => (await answer(`killed.${ZONE}`)) === '127.0.0.23', { timeoutMs: 10_000 }));
    }
  });

  it('answers from the built manager, and both processes end with it (kill -9)', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    const dir = tempDir('dns-answerers');
    const dnsPort = await freePort();
    const m = await startManagerProcess({ OCDN_DATA_DIR: dir.path, OCDN_DNS_ISOLATION: 'process', OCDN_DNS_ANSWERERS: '2', OCDN_DNS_PORT: String(dnsPort) });
    try {
      const soa = async () => (await run(dig!, ['@127.0.0.1', '-p', String(dnsPort), '+short', '+time=1', '+tries=1', ZONE, 'SOA']).catch(() => ({ stdout: '' }))).stdout;
      await waitFor('an SOA answer', async () => (await soa()).includes(`hostmaster.${ZONE}.`), { timeoutMs: 10_000 });
      const pids = await waitFor('two DNS processes', () => {
        const found = childrenOf(m.proc.child.pid!, 'dns-worker');
        return found.length === 2 ? found : null;
      });
      // Their withhold sockets' directory, from their configuration: the manager killed cannot remove it, they do.
      const config = readFileSync(`/proc/${pids[0]}/environ`, 'utf8').split('\0').find((e) => e.startsWith(`${WORKER_CONFIG_ENV}=`))!;
      const socketDir = dirname((JSON.parse(config.slice(WORKER_CONFIG_ENV.length + 1)) as WorkerConfig).withholdSocket!);
      assert.ok(existsSync(socketDir));
      await m.proc.kill9();
      await waitFor('both DNS processes to end', () => pids.every(processGone), { timeoutMs: 10_000 });
      await waitFor('their withhold sockets removed', () => !existsSync(socketDir), { timeoutMs: 5_000 });
    } finally {
      await m.proc.stop();
      dir.remove();
    }
  });
});

// Where the built-in DNS answers (OCDN_DNS_ISOLATION): a thread of the manager's or a process of its own. Each
// setup: its priority, its restart after a failure, and what is left when the manager is killed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { requireProgram } from '../../../test/support/programs.ts';
import { freePort, startManagerProcess, tempDir } from '../../../test/support/procs.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { childrenOf, processGone } from '../../../test/support/proc-tree.ts';
import type { BuiltinDns } from '../src/dns/builtin.ts';
import type { ToWorker } from '../src/dns/messages.ts';
import { startHarness, type Harness } from './harness.ts';
import { schedOf } from '../../../test/support/sched.ts';

const run = promisify(execFile);
const ZONE = 'cdn.ocdn.test';


for (const isolation of ['thread', 'process'] as const) {
  describe(`built-in DNS answering from a ${isolation} (OCDN_DNS_ISOLATION=${isolation})`, () => {
    let h: Harness;
    let dig: string | null = null;
    const answer = async (server: BuiltinDns, name: string) =>
      (await run(dig!, ['@127.0.0.1', '-p', String(server.port), '+short', '+time=1', '+tries=1', name, 'A']).catch(() => ({ stdout: '' }))).stdout.trim();

    before(async (t) => {
      dig = requireProgram(t, 'dig');
      h = await startHarness('pglite', { OCDN_DNS_ISOLATION: isolation });
    });
    after(async () => {
      await h?.close();
    });

    it('answers ahead of the manager (OCDN_DNS_NICE -10, OCDN_DNS_RT_PRIORITY 1), its own thread alone', async (t) => {
      if (process.getuid?.() !== 0 && !process.env.CI) return t.skip('raising a priority needs root or CAP_SYS_NICE');
      const server = h.manager.ctx.dns.server!;
      const tid = server.tid!;
      assert.ok(tid && tid !== process.pid);
      if (isolation === 'thread') assert.equal(server.pid, undefined);
      else assert.equal(server.pid, tid, 'a process answers on its main thread');
      const path = isolation === 'thread' ? `/proc/self/task/${tid}/stat` : `/proc/${tid}/stat`;
      assert.deepEqual(schedOf(path), { nice: -10, policy: 2, rtPriority: 1 });
      assert.deepEqual(schedOf('/proc/self/stat'), { nice: 0, policy: 0, rtPriority: 0 }, "the manager's thread keeps its priority and the normal scheduler");
    });

    it('is started again on the same port when it fails, with every record', async (t) => {
      if (!dig) return t.skip('missing program: dig');
      const server = h.manager.ctx.dns.server!;
      await h.manager.ctx.dns.provider.upsert(`again.${ZONE}`, '127.0.0.7');
      const { port, tid } = server;
      // A message it cannot apply fails it (an uncaught error), as a bug would.
      const post = (server as unknown as { post(m: ToWorker): void }).post.bind(server);
      post({ op: 'set', entries: [[`broken.${ZONE}`, null as unknown as []]] });
      await waitFor('the DNS to be started again', () => server.tid !== undefined && server.tid !== tid, { timeoutMs: 10_000 });
      assert.equal(server.port, port);
      await waitFor('answers from the new one', async () => (await answer(server, `again.${ZONE}`)) === '127.0.0.7', { timeoutMs: 10_000 });
    });

    if (isolation === 'process') {
      it('is started again when its process is killed (kill -9)', async (t) => {
        if (!dig) return t.skip('missing program: dig');
        const server = h.manager.ctx.dns.server!;
        await h.manager.ctx.dns.provider.upsert(`killed.${ZONE}`, '127.0.0.8');
        const { port, pid } = server;
        process.kill(pid!, 'SIGKILL');
        await waitFor('the DNS process to be started again', () => server.pid !== undefined && server.pid !== pid, { timeoutMs: 10_000 });
        assert.equal(server.port, port);
        await waitFor('answers from the new process', async () => (await answer(server, `killed.${ZONE}`)) === '127.0.0.8', { timeoutMs: 10_000 });
      });

      it('ends with the manager (kill -9), so the port is free for the next one', async () => {
        const dir = tempDir('dns-orphan');
        const m = await startManagerProcess({ OCDN_DATA_DIR: dir.path, OCDN_DNS_ISOLATION: 'process' });
        try {
          const managerPid = m.proc.child.pid!;
          const [dnsPid] = await waitFor('the DNS process', () => {
            const found = childrenOf(managerPid, 'dns-worker');
            return found.length ? found : null;
          });
          await m.proc.kill9();
          await waitFor('the DNS process to end', () => processGone(dnsPid!), { timeoutMs: 10_000 });
        } finally {
          await m.proc.stop();
          dir.remove();
        }
      });
    } else {
      it('answers from the built manager (dist/dns-worker.js) without a process of its own', async (t) => {
        if (!dig) return t.skip('missing program: dig');
        const dir = tempDir('dns-thread');
        const dnsPort = await freePort();
        const m = await startManagerProcess({ OCDN_DATA_DIR: dir.path, OCDN_DNS_ISOLATION: 'thread', OCDN_DNS_PORT: String(dnsPort) });
        try {
          const soa = async () => (await run(dig!, ['@127.0.0.1', '-p', String(dnsPort), '+short', '+time=1', '+tries=1', ZONE, 'SOA']).catch(() => ({ stdout: '' }))).stdout;
          await waitFor('an SOA answer', async () => (await soa()).includes(`hostmaster.${ZONE}.`), { timeoutMs: 10_000 });
          assert.deepEqual(childrenOf(m.proc.child.pid!, 'dns-worker'), []);
        } finally {
          await m.proc.stop();
          dir.remove();
        }
      });
    }
  });
}

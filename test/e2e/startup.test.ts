// A manager that is starting (its embedded database being made) accepts connections at once and answers them once it
// has started, rather than refusing them — agents reconnecting after a restart do not back off further meanwhile.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ADMIN_TOKEN, MANAGER_JS, MANAGER_LAUNCH_ENV, Proc, freePort, tempDir } from '../support/procs.ts';
import { waitFor } from '../support/wait.ts';

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('a manager while it starts', () => {
  it('accepts a connection before it has started and answers its request once started', async (t) => {
    const dir = tempDir('startup');
    t.after(() => dir.remove());
    const port = await freePort();
    const m = new Proc('manager', [MANAGER_JS], { ...MANAGER_LAUNCH_ENV, OCDN_DATA_DIR: dir.path, OCDN_HTTP_PORT: String(port), OCDN_DNS_PORT: '0', OCDN_ADMIN_TOKEN: ADMIN_TOKEN });
    t.after(() => m.stop());
    await waitFor('a connection accepted', async () => {
      if (!m.running) throw new Error(`manager exited:\n${m.output}`);
      return connects(port);
    }, { timeoutMs: 30_000, intervalMs: 20 });
    // A fresh embedded database takes seconds to make: the manager has not started yet.
    assert.doesNotMatch(m.output, /manager listening/, 'the port was taken before the manager said it listens');
    const sentAt = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/nodes`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { items: unknown[] }).items, []);
    assert.match(m.output, /manager listening/, 'answered once started');
    t.diagnostic(`request held ${Date.now() - sentAt} ms while the manager started`);
  });
});

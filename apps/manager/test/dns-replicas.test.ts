// The built-in DNS of two manager replicas on one PostgreSQL database, asked with dig.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
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
});

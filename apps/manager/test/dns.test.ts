import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { testBackends } from '../../../test/support/db.ts';
import { requireProgram } from '../../../test/support/programs.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { startHarness, type Harness } from './harness.ts';

const run = promisify(execFile);
const ZONE = 'cdn.ocdn.test';

for (const backend of testBackends()) {
  describe(`built-in DNS on ${backend} (asked with dig)`, () => {
    let h: Harness;
    let dig: string | null = null;
    let port = 0;
    /** dig's answer section and status, over UDP or TCP. */
    const ask = async (name: string, type = 'A', tcp = false) => {
      const args = ['@127.0.0.1', '-p', String(port), name, type, '+norec', '+time=2', '+tries=1', ...(tcp ? ['+tcp'] : [])];
      const { stdout } = await run(dig!, args);
      const status = /status: (\w+)/.exec(stdout)?.[1];
      const flags = /flags: ([^;]*);/.exec(stdout)?.[1] ?? '';
      const answers = [...stdout.matchAll(/^(\S+)\s+(\d+)\s+IN\s+(\w+)\s+(.+)$/gm)]
        .filter((m) => !stdout.slice(0, m.index).includes(';; AUTHORITY SECTION')) // the answer section only
        .map((m) => ({ name: m[1], ttl: Number(m[2]), type: m[3], data: m[4]!.trim() }));
      return { status, flags, answers, stdout };
    };

    before(async (t) => {
      dig = requireProgram(t, 'dig');
      h = await startHarness(backend);
      port = h.manager.ctx.dns.server!.port;
    });
    after(async () => {
      await h?.close();
    });

    it('answers A with every published address, over UDP and TCP, with the TTL', async (t) => {
      if (!dig) return t.skip('missing program: dig');
      const provider = h.manager.ctx.dns.provider;
      await provider.upsert(`shop-example-com.${ZONE}`, '127.0.0.2');
      await provider.upsert(`shop-example-com.${ZONE}`, '127.0.0.3');
      await provider.upsert(`shop-example-com.${ZONE}`, '127.0.0.3'); // idempotent
      for (const tcp of [false, true]) {
        const r = await ask(`shop-example-com.${ZONE}`, 'A', tcp);
        assert.equal(r.status, 'NOERROR');
        assert.match(r.flags, /\baa\b/);
        const a = r.answers.filter((x) => x.type === 'A');
        assert.deepEqual(a.map((x) => x.data).sort(), ['127.0.0.2', '127.0.0.3']);
        assert.ok(a.every((x) => x.ttl === 30));
      }
      const listed = await h.call('GET', '/api/v1/dns/records');
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.items.map((r: { name: string; value: string }) => `${r.name} ${r.value}`),
        [`shop-example-com.${ZONE} 127.0.0.2`, `shop-example-com.${ZONE} 127.0.0.3`],
      );
    });

    it('withdraws an address at once', async (t) => {
      if (!dig) return t.skip('missing program: dig');
      await h.manager.ctx.dns.provider.remove(`shop-example-com.${ZONE}`, '127.0.0.2');
      await h.manager.ctx.dns.provider.remove(`shop-example-com.${ZONE}`, '127.0.0.2'); // missing: fine
      const r = await ask(`shop-example-com.${ZONE}`);
      assert.deepEqual(r.answers.filter((x) => x.type === 'A').map((x) => x.data), ['127.0.0.3']);
    });

    it("answers another replica's change after its refresh, even when a later local change was answered first", async (t) => {
      if (!dig) return t.skip('missing program: dig');
      const { store, provider } = h.manager.ctx.dns;
      await store.upsert(`other-replica.${ZONE}`, '127.0.0.51', 30); // another replica: the database only
      await provider.upsert(`this-replica.${ZONE}`, '127.0.0.52'); // the next serial, made here
      const local = await ask(`this-replica.${ZONE}`);
      assert.deepEqual(local.answers.map((x) => x.data), ['127.0.0.52']);
      await waitFor('the other replica\'s record', async () => (await ask(`other-replica.${ZONE}`)).answers.some((x) => x.data === '127.0.0.51'), {
        timeoutMs: 10_000,
      });
      await provider.remove(`other-replica.${ZONE}`, '127.0.0.51');
      await provider.remove(`this-replica.${ZONE}`, '127.0.0.52');
      assert.equal((await ask(`other-replica.${ZONE}`)).status, 'NXDOMAIN');
    });

    it('answers SOA and NS at the apex, NXDOMAIN inside the zone, REFUSED outside', async (t) => {
      if (!dig) return t.skip('missing program: dig');
      const soa = await ask(ZONE, 'SOA');
      assert.equal(soa.status, 'NOERROR');
      assert.match(soa.stdout, new RegExp(`${ZONE.replaceAll('.', '\\.')}\\.\\s+30\\s+IN\\s+SOA\\s+ns\\.${ZONE.replaceAll('.', '\\.')}\\. hostmaster`));
      const ns = await ask(ZONE, 'NS', true);
      assert.match(ns.stdout, new RegExp(`IN\\s+NS\\s+ns\\.${ZONE.replaceAll('.', '\\.')}\\.`));
      const nx = await ask(`nothing-here.${ZONE}`);
      assert.equal(nx.status, 'NXDOMAIN');
      assert.match(nx.stdout, /AUTHORITY SECTION/);
      const nodata = await ask(`shop-example-com.${ZONE}`, 'AAAA');
      assert.equal(nodata.status, 'NOERROR');
      assert.equal(nodata.answers.filter((x) => x.type === 'AAAA').length, 0);
      const out = await ask('example.com');
      assert.equal(out.status, 'REFUSED');
    });

    it('ignores garbage and keeps answering', async (t) => {
      if (!dig) return t.skip('missing program: dig');
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.send(Buffer.from('definitely not dns'), port, '127.0.0.1', () => r()));
      await new Promise<void>((r) => sock.send(Buffer.alloc(0), port, '127.0.0.1', () => r()));
      sock.close();
      const r = await ask(`shop-example-com.${ZONE}`);
      assert.equal(r.status, 'NOERROR');
    });
  });
}

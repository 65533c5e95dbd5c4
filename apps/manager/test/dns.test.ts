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

    it('applies its own changes without reading every record again, even when a refresh reads their serial first', async (t) => {
      if (!dig) return t.skip('missing program: dig');
      const { provider, server } = h.manager.ctx.dns;
      const before = server!.reloads;
      // Refreshes one after another while 300 changes are being committed: a refresh's read of the serial often
      // returns before the commit that moved it is reported here (two connections on PostgreSQL).
      let writing = true;
      const refreshing = (async () => {
        while (writing) await server!.refresh();
      })();
      const names = Array.from({ length: 300 }, (_, i) => `own-${i}.${ZONE}`);
      for (let i = 0; i < names.length; i += 3) await Promise.all(names.slice(i, i + 3).map((name) => provider.upsert(name, '127.0.0.61')));
      writing = false;
      await refreshing;
      await server!.refresh();
      await server!.refresh();
      assert.equal(server!.reloads, before, 'no reload for this replica’s own changes');
      assert.deepEqual((await ask(names[299]!)).answers.map((x) => x.data), ['127.0.0.61']);
      // Another replica's change (the database only) is read at the next refresh.
      await h.manager.ctx.dns.store.upsert(`own-0.${ZONE}`, '127.0.0.62', 30);
      await server!.refresh();
      assert.equal(server!.reloads, before + 1);
      await waitFor('the other replica’s address answered', async () => (await ask(`own-0.${ZONE}`)).answers.map((x) => x.data).sort().join() === '127.0.0.61,127.0.0.62');
      await Promise.all(names.map((name) => provider.remove(name, '127.0.0.61')));
      await provider.remove(`own-0.${ZONE}`, '127.0.0.62');
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

/** One UDP exchange with the server: the reply, or null when none came within `ms`. */
async function udpExchange(port: number, msg: Buffer, ms = 2000): Promise<Buffer | null> {
  const sock = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      sock.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

/** A query header: id 0x1234, the given flags and counts. */
function header(flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h.writeUInt16BE(flags, 2);
  [qd, an, ns, ar].forEach((n, i) => h.writeUInt16BE(n, 4 + i * 2));
  return h;
}
const questionOf = (name: string, type = 1) => Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
const rcodeOf = (reply: Buffer) => reply.readUInt16BE(2) & 0xf;

describe('built-in DNS protocol: EDNS(0), truncation, answer cap, name servers (asked with dig)', () => {
  let capped: Harness;
  let uncapped: Harness;
  let dig: string | null = null;
  const digAt = async (h: Harness, args: string[]) => (await run(dig!, ['@127.0.0.1', '-p', String(h.manager.ctx.dns.server!.port), '+norec', '+time=2', '+tries=1', ...args])).stdout;
  const statusOf = (out: string) => /status: (\w+)/.exec(out)?.[1];
  const answersOf = (out: string) => {
    const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
    return section.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(/\s+/));
  };

  before(async (t) => {
    dig = requireProgram(t, 'dig');
    capped = await startHarness('pglite', { OCDN_DNS_ISOLATION: 'thread', OCDN_DNS_MAX_ANSWERS: '4', OCDN_DNS_NS: `ns1.${ZONE}=127.0.0.1,ns2.${ZONE}=127.0.0.9,ns.other.example=127.0.0.10` });
    uncapped = await startHarness('pglite', { OCDN_DNS_ISOLATION: 'process', OCDN_DNS_MAX_ANSWERS: '0' });
  });
  after(async () => {
    await capped?.close();
    await uncapped?.close();
  });

  it('echoes OPT with its own UDP size for EDNS(0), answers BADVERS for EDNS version 1, no OPT without EDNS', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    await capped.manager.ctx.dns.provider.upsert(`edns.${ZONE}`, '127.0.0.2');
    const e0 = await digAt(capped, [`edns.${ZONE}`, 'A', '+edns=0']);
    assert.equal(statusOf(e0), 'NOERROR');
    assert.match(e0, /EDNS: version: 0, flags:; udp: 1232/);
    assert.deepEqual(answersOf(e0).map((a) => a[4]), ['127.0.0.2']);
    const withDo = await digAt(capped, [`edns.${ZONE}`, 'A', '+dnssec']);
    assert.match(withDo, /EDNS: version: 0, flags: do; udp: 1232/, 'the DO bit is copied');
    const e1 = await digAt(capped, [`edns.${ZONE}`, 'A', '+edns=1', '+noednsnegotiation']);
    assert.equal(statusOf(e1), 'BADVERS');
    assert.match(e1, /EDNS: version: 0,/);
    assert.equal(answersOf(e1).length, 0);
    const none = await digAt(capped, [`edns.${ZONE}`, 'A', '+noedns']);
    assert.equal(statusOf(none), 'NOERROR');
    assert.doesNotMatch(none, /OPT PSEUDOSECTION/);
  });

  it('caps the addresses per answer at OCDN_DNS_MAX_ANSWERS and rotates them across queries', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    const ips = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15', '127.0.0.16'];
    for (const ip of ips) await capped.manager.ctx.dns.provider.upsert(`many.${ZONE}`, ip);
    const seen = new Set<string>();
    const firsts = new Set<string>();
    for (let i = 0; i < ips.length; i++) {
      const got = answersOf(await digAt(capped, [`many.${ZONE}`, 'A'])).map((a) => a[4]!);
      assert.equal(got.length, 4);
      got.forEach((ip) => seen.add(ip));
      firsts.add(got[0]!);
    }
    assert.deepEqual([...seen].sort(), ips, 'every address is given out');
    assert.equal(firsts.size, ips.length, 'each query starts at the next address');
  });

  it('truncates an answer too large for the client over UDP (TC), and gives it whole over TCP and to a large EDNS buffer', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    const name = `wide.${ZONE}`;
    for (let i = 1; i <= 40; i++) await uncapped.manager.ctx.dns.provider.upsert(name, `127.0.1.${i}`);
    const plain = await digAt(uncapped, [name, 'A', '+noedns', '+ignore']);
    assert.match(plain, /flags: qr aa tc/);
    assert.equal(answersOf(plain).length, 0);
    const small = await digAt(uncapped, [name, 'A', '+bufsize=512', '+ignore']);
    assert.match(small, /flags: qr aa tc/);
    assert.match(small, /udp: 1232/, 'the OPT stays in a truncated answer');
    assert.equal(answersOf(await digAt(uncapped, [name, 'A', '+bufsize=1232'])).length, 40);
    assert.equal(answersOf(await digAt(uncapped, [name, 'A', '+tcp'])).length, 40);
  });

  it('names every OCDN_DNS_NS server at the apex with glue for those inside the zone, and answers their addresses', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    const out = await digAt(capped, [ZONE, 'NS']);
    assert.deepEqual(answersOf(out).map((a) => a[4]).sort(), [`ns.other.example.`, `ns1.${ZONE}.`, `ns2.${ZONE}.`]);
    const additional = /;; ADDITIONAL SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
    assert.match(additional, new RegExp(`ns1\\.${ZONE.replaceAll('.', '\\.')}\\.\\s+\\d+\\s+IN\\s+A\\s+127\\.0\\.0\\.1`));
    assert.match(additional, new RegExp(`ns2\\.${ZONE.replaceAll('.', '\\.')}\\.\\s+\\d+\\s+IN\\s+A\\s+127\\.0\\.0\\.9`));
    assert.doesNotMatch(additional, /other\.example/, 'no glue for a name server outside the zone');
    assert.deepEqual(answersOf(await digAt(capped, [`ns2.${ZONE}`, 'A'])).map((a) => a[4]), ['127.0.0.9']);
    assert.match(await digAt(capped, [ZONE, 'SOA']), new RegExp(`SOA\\s+ns1\\.${ZONE.replaceAll('.', '\\.')}\\. hostmaster`));
  });

  it('keeps the question as asked (case) and owners as published, answers NODATA for a name that only has names below it', async (t) => {
    if (!dig) return t.skip('missing program: dig');
    await capped.manager.ctx.dns.provider.upsert(`a.b.${ZONE}`, '127.0.0.20');
    const mixed = await digAt(capped, [`A.B.Cdn.OCDN.test`, 'A']);
    assert.equal(statusOf(mixed), 'NOERROR');
    // The question comes back as asked; the answer's owner is the name as published (as BIND answers).
    assert.match(mixed, /;; QUESTION SECTION:\n;A\.B\.Cdn\.OCDN\.test\.\s+IN\s+A/);
    assert.deepEqual(answersOf(mixed).map((a) => [a[0], a[4]]), [[`a.b.${ZONE}.`, '127.0.0.20']]);
    const between = await digAt(capped, [`b.${ZONE}`, 'A']);
    assert.equal(statusOf(between), 'NOERROR');
    assert.equal(answersOf(between).length, 0);
    assert.equal(statusOf(await digAt(capped, [`c.b.${ZONE}`, 'A'])), 'NXDOMAIN');
    await capped.manager.ctx.dns.provider.remove(`a.b.${ZONE}`, '127.0.0.20');
    assert.equal(statusOf(await digAt(capped, [`b.${ZONE}`, 'A'])), 'NXDOMAIN', 'gone with the name below it');
  });

  it('answers malformed queries with the right rcode and keeps answering', async () => {
    const port = capped.manager.ctx.dns.server!.port;
    const q = questionOf(`edns.${ZONE}`);
    // The question cut short, and two questions: FORMERR.
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 1), q.subarray(0, 7)])))!), 1);
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 2), q, q])))!), 1);
    // A compression pointer in the question: FORMERR.
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])])))!), 1);
    // Two OPT records: FORMERR; an OPT whose length runs past the message: FORMERR.
    const opt = Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 1, 0, 0, 2), q, opt, opt])))!), 1);
    const longOpt = Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 40]);
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 1, 0, 0, 1), q, longOpt])))!), 1);
    // EDNS options (a client cookie) are fine: answered, OPT echoed without them.
    const cookie = Buffer.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    const withCookie = (await udpExchange(port, Buffer.concat([header(0x0100, 1, 0, 0, 1), q, cookie])))!;
    assert.equal(rcodeOf(withCookie), 0);
    assert.equal(withCookie.readUInt16BE(10), 1, 'one additional record: the OPT');
    // An UPDATE (opcode 5): NOTIMP. A class other than IN: REFUSED.
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x2800, 1), q])))!), 4);
    const chaos = Buffer.from(q);
    chaos.writeUInt16BE(3, chaos.length - 2);
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 1), chaos])))!), 5);
    // A huge datagram of garbage after a valid header, and a response (QR set), then a normal query.
    await udpExchange(port, Buffer.concat([header(0x0100, 1), Buffer.alloc(60_000, 0x3f)]), 300);
    const good = (await udpExchange(port, Buffer.concat([header(0x0100, 1), q])))!;
    assert.equal(rcodeOf(good), 0);
    assert.equal(good.readUInt16BE(0), 0x1234);
    const stats = await capped.manager.ctx.dns.server!.stats();
    assert.ok((stats?.byRcode.FORMERR ?? 0) >= 5 && (stats?.byRcode.NOTIMP ?? 0) >= 1, JSON.stringify(stats));
  });

  it('serves DNS queries by rcode, answer times and domains by status at /metrics', async () => {
    const port = capped.manager.ctx.dns.server!.port;
    assert.equal(rcodeOf((await udpExchange(port, Buffer.concat([header(0x0100, 1), questionOf(`not-published.${ZONE}`)])))!), 3);
    const text = await (await capped.manager.app.request('/metrics')).text();
    const count = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(count(/^ocdn_dns_queries_total\{rcode="NXDOMAIN"\} (\d+)$/m) >= 1, text);
    assert.ok(count(/^ocdn_dns_queries_total\{rcode="FORMERR"\} (\d+)$/m) >= 5);
    const answered = count(/^ocdn_dns_answer_seconds_count (\d+)$/m);
    assert.ok(answered >= 10);
    assert.equal(count(/^ocdn_dns_answer_seconds_bucket\{le="\+Inf"\} (\d+)$/m), answered);
    assert.match(text, /^ocdn_dns_truncated_total \d+$/m);
    assert.match(text, /^ocdn_domains\{status="normal"\} 0$/m);
  });
});

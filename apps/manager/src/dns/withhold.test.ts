// Withheld addresses (ZoneAnswers.withhold): a node just decided faulty leaves the built-in DNS's answers before its
// records are deleted, except where it is a name's only address, until it is published again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { ZoneAnswers } from './wire.ts';

const ZONE = 'cdn.example';
const NAME = `shop.${ZONE}`;
const records = (...ips: string[]) => ips.map((value) => ({ value, ttl: 30 }));

function zone(maxAnswers = 0): ZoneAnswers {
  return new ZoneAnswers({ zone: ZONE, ttl: 60, nameServers: [{ name: `ns.${ZONE}`, ip: '127.0.0.1' }], maxAnswers });
}

/** The addresses answered for `name`, in the answer's order. */
function ask(z: ZoneAnswers, name = NAME): string[] {
  const reply = z.answer(dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name }] }), true);
  assert.ok(reply);
  assert.equal(reply.rcode, 'NOERROR');
  return (dnsPacket.decode(reply.bytes).answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : []));
}

describe('addresses withheld from the built-in DNS', () => {
  it('leaves a withheld address out of every name, rotating over the others, until it is released', () => {
    const z = zone();
    z.set(NAME, records('127.0.0.2', '127.0.0.3', '127.0.0.4'));
    z.set(`img.${ZONE}`, records('127.0.0.3', '127.0.0.5'));
    assert.equal(z.withhold('127.0.0.3'), true);
    assert.equal(z.withhold('127.0.0.3'), false, 'withheld already');
    assert.equal(z.withheldCount, 1);
    const first = ask(z);
    assert.deepEqual([...first].sort(), ['127.0.0.2', '127.0.0.4']);
    assert.notDeepEqual(ask(z), first, 'the remaining addresses rotate');
    assert.deepEqual(ask(z, `img.${ZONE}`), ['127.0.0.5']);
    z.release('127.0.0.3');
    assert.equal(z.withheldCount, 0);
    assert.deepEqual(ask(z).sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    assert.deepEqual(ask(z, `img.${ZONE}`).sort(), ['127.0.0.3', '127.0.0.5']);
  });

  it("answers a name's addresses all when every one of them is withheld (fail open, as FAULT_NODE leaves the last)", () => {
    const z = zone();
    z.set(NAME, records('127.0.0.2', '127.0.0.3'));
    z.set(`solo.${ZONE}`, records('127.0.0.2'));
    z.withhold('127.0.0.2');
    assert.deepEqual(ask(z), ['127.0.0.3']);
    assert.deepEqual(ask(z, `solo.${ZONE}`), ['127.0.0.2']);
    z.withhold('127.0.0.3');
    assert.deepEqual(ask(z).sort(), ['127.0.0.2', '127.0.0.3']);
  });

  it('counts only the addresses left toward the most an answer holds', () => {
    const z = zone(2);
    z.set(NAME, records('127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'));
    z.withhold('127.0.0.4');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const got = ask(z);
      assert.equal(got.length, 2);
      for (const ip of got) seen.add(ip);
    }
    assert.deepEqual([...seen].sort(), ['127.0.0.2', '127.0.0.3', '127.0.0.5']);
  });

  it('gives an address back when a change publishes it for a name that did not have it, not for one that kept it', () => {
    const z = zone();
    z.set(NAME, records('127.0.0.2', '127.0.0.3', '127.0.0.4'));
    z.withhold('127.0.0.3');
    // Another address removed from the name (FAULT_NODE of another node): the withheld one stays withheld.
    z.set(NAME, records('127.0.0.2', '127.0.0.3'));
    assert.deepEqual(ask(z), ['127.0.0.2']);
    // Its own record deleted (its FAULT_NODE's OCDN_DEL_DNS), then published again (RECOVER_NODE's OCDN_MODIFI_DNS).
    z.set(NAME, records('127.0.0.2'));
    assert.equal(z.withheldCount, 1);
    z.set(NAME, records('127.0.0.2', '127.0.0.3'));
    assert.equal(z.withheldCount, 0);
    assert.deepEqual(ask(z).sort(), ['127.0.0.2', '127.0.0.3']);
    // Published for a new name counts too.
    z.withhold('127.0.0.2');
    z.set(`new.${ZONE}`, records('127.0.0.2'));
    assert.equal(z.withheldCount, 0);
  });

  it('keeps an address withheld when every record is read again (the zone replaced, not a change)', () => {
    const z = zone();
    z.set(NAME, records('127.0.0.2', '127.0.0.3'));
    z.withhold('127.0.0.3');
    z.setAll([[NAME, records('127.0.0.2', '127.0.0.3')], [`img.${ZONE}`, records('127.0.0.3', '127.0.0.6')]]);
    assert.equal(z.withheldCount, 1);
    assert.deepEqual(ask(z), ['127.0.0.2']);
    assert.deepEqual(ask(z, `img.${ZONE}`), ['127.0.0.6']);
  });

  it('ignores what is not an IPv4 address', () => {
    const z = zone();
    z.set(NAME, records('127.0.0.2'));
    assert.equal(z.withhold('::1'), false);
    assert.equal(z.withhold('not an address'), false);
    z.release('not an address');
    assert.equal(z.withheldCount, 0);
    assert.deepEqual(ask(z), ['127.0.0.2']);
  });
});

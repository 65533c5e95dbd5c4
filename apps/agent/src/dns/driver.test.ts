import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { requireProgram } from '../../../../test/support/programs.ts';
import { createLogger } from '../log.ts';
import { DnsDriver } from './driver.ts';
import { renderBindView, renderUnbound } from './render.ts';

const fw = [{ ip: '127.0.7.2', port: 5300 }];

describe('dns driver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ocdn-dns-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('renders BIND zones, root as view options, and turns off the empty zone a reverse name falls under', () => {
    const text = renderBindView({ name: 'v', matchClients: [], zones: [{ name: '.', style: 'first', forwarders: fw }, { name: '5.10.in-addr.arpa', style: 'only', forwarders: fw }] });
    assert.match(text, /^disable-empty-zone "10.in-addr.arpa";$/m);
    assert.match(text, /^forward first;\nforwarders \{ 127\.0\.7\.2 port 5300; \};$/m);
    assert.match(text, /^zone "5\.10\.in-addr\.arpa" \{ type forward; forward only; forwarders \{ 127\.0\.7\.2 port 5300; \}; \};$/m);
  });

  it('renders Unbound forward zones with a transparent local zone only where a default one would shadow them', () => {
    const text = renderUnbound({ name: 'default', matchClients: [], zones: [{ name: 'corp.example', style: 'first', forwarders: fw }, { name: 'a.test', style: 'only', forwarders: fw }] });
    assert.match(text, /local-zone: "a\.test\." transparent/);
    assert.doesNotMatch(text, /local-zone: "corp\.example\."/);
    assert.match(text, /name: "corp\.example\."\n    forward-addr: 127\.0\.7\.2@5300\n    forward-first: yes/);
  });

  it('keeps the last good configuration when BIND refuses the new one (real named-checkconf)', async (t) => {
    const checkconf = requireProgram(t, 'named-checkconf');
    if (!checkconf) return;
    const inc = join(dir, 'bind');
    mkdirSync(inc);
    const conf = join(dir, 'named.conf');
    // No views: the include sits at top level, where view options such as `forward` are not allowed.
    writeFileSync(conf, `options { directory "${dir}"; };\ninclude "${inc}/default.forward.conf";\n`);
    const d = new DnsDriver({ driver: 'bind', bindIncludeDir: inc, bindCheckconfCmd: [checkconf, conf], rndcCmd: ['true'], unboundIncludeFile: '', unboundCheckconfCmd: [], unboundControlCmd: [], log: createLogger('silent') });
    const good = await d.apply({ hash: 'h1', views: [{ name: 'default', matchClients: ['any'], zones: [{ name: 'corp.example', style: 'only', forwarders: fw }] }] });
    assert.deepEqual(good.changed, ['default']);
    const before = readFileSync(join(inc, 'default.forward.conf'), 'utf8');
    await assert.rejects(
      d.apply({ hash: 'h2', views: [{ name: 'default', matchClients: ['any'], zones: [{ name: '.', style: 'first', forwarders: fw }] }] }),
      (err: Error) => /configuration refused, previous one kept/.test(err.message),
    );
    assert.equal(readFileSync(join(inc, 'default.forward.conf'), 'utf8'), before, 'the previous file is back');
    assert.deepEqual(await d.held(), { hash: 'h1' }, 'it still holds the last good state');
  });
});

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { requireProgram } from '../../../../test/support/programs.ts';
import { freePort } from '../../../../test/support/procs.ts';
import { startBind } from '../../../../test/support/resolvers.ts';
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

  it('flushes BIND without views in its implicit view _default; a failed flush fails the apply, keeps the config and is retried (real named)', async (t) => {
    for (const p of ['named', 'rndc', 'named-checkconf']) if (!requireProgram(t, p)) return;
    const bind = await startBind(join(dir, 'flat'), '127.0.0.1', await freePort(), await freePort(), []);
    t.after(() => bind.stop());
    const env = bind.agentEnv;
    const inc = env.OCDN_BIND_INCLUDE_DIR!;
    const rndc = env.OCDN_RNDC_CMD!.split(' ');
    // The real rndc, except that cache flushes fail (as when named's control channel hangs on them).
    const noFlush = join(dir, 'rndc-noflush.sh');
    writeFileSync(noFlush, `#!/bin/sh\ncase " $* " in *" flushtree "*|*" flush "*) echo "flush refused" >&2; exit 1;; esac\nexec ${rndc.join(' ')} "$@"\n`);
    chmodSync(noFlush, 0o755);
    const driver = (rndcCmd: string[]) =>
      new DnsDriver({ driver: 'bind', bindIncludeDir: inc, bindCheckconfCmd: env.OCDN_BIND_CHECKCONF_CMD!.split(' '), rndcCmd, unboundIncludeFile: '', unboundCheckconfCmd: [], unboundControlCmd: [], log: createLogger('silent') });
    const zone = (name: string, port: number) => ({ name, style: 'only' as const, forwarders: [{ ip: '127.0.7.2', port }] });

    const ok = await driver(rndc).apply({ hash: 'f1', views: [{ name: 'default', matchClients: ['any'], zones: [zone('corp.example', 5300)] }] });
    assert.deepEqual(ok.flushed, ['default/corp.example']);
    assert.deepEqual(ok.warnings, []);
    assert.match(bind.output(), /flushing tree 'corp.example' in cache view '_default' succeeded/);

    const other = await driver(rndc).apply({ hash: 'f2', views: [{ name: 'default', matchClients: ['any'], zones: [zone('corp.example', 5300)] }, { name: 'inner', matchClients: ['any'], zones: [zone('x.example', 5300)] }] });
    assert.equal(other.warnings.length, 1);
    assert.match(other.warnings[0]!, /BIND has no view "inner"/);

    const next = { hash: 'f3', views: [{ name: 'default', matchClients: ['any'], zones: [zone('corp.example', 5301)] }] };
    await assert.rejects(driver([noFlush]).apply(next), /configuration applied, but the cache flush failed.*flush refused/);
    assert.match(readFileSync(join(inc, 'default.forward.conf'), 'utf8'), /port 5301/, 'the applied configuration stays');
    const retried = driver(rndc);
    assert.deepEqual(await retried.held(), { hash: 'f2' }, 'the failed apply is not recorded as held');
    const again = await retried.apply(next);
    assert.deepEqual(again.flushed, ['default/corp.example'], 'the retry flushes what the failed apply did not');
    assert.deepEqual(await retried.held(), { hash: 'f3' });
    const misses = bind.output().match(/flushing tree '[^']+' in cache view 'default' failed/g) ?? [];
    assert.ok(misses.length <= 3, `each driver learns _default from its first flush (${misses.length} misses)`);
  });
});

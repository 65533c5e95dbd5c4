// No packet leaves the machine: every BIND and Unbound that a test or benchmark starts has loopback-only root hints.
// The one launcher (startResolverDaemon) checks each configuration before the resolver starts; this file checks the
// check, and that nothing under test/ or bench/ starts a resolver any other way.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, tempDir } from './procs.ts';
import { ROOT_HINT, assertLoopbackRootHints } from './resolvers.ts';

describe('loopback-only root hints for every test-started resolver', () => {
  const tmp = tempDir('root-hints');
  after(() => tmp.remove());
  const hints = join(tmp.path, 'root.hint');
  const publicHints = join(tmp.path, 'public.hint');
  writeFileSync(hints, ROOT_HINT);
  writeFileSync(publicHints, '.\t3600000\tNS\ta.root-servers.net.\na.root-servers.net.\t3600000\tA\t198.41.0.4\n');
  const conf = (name: string, text: string) => {
    const p = join(tmp.path, name);
    writeFileSync(p, text);
    return p;
  };
  const hintZone = (file: string) => `zone "." { type hint; file "${file}"; };`;

  it('refuses a named.conf without root hints of its own (recursion off included)', () => {
    assert.throws(() => assertLoopbackRootHints('named', conf('a.conf', 'options { recursion no; };\nzone "x.test" { type primary; file "db"; };\n')), /loopback-only root hints/);
  });

  it('refuses a view without them, and hints that name a public address', () => {
    const twoViews = `view "a" { match-clients { any; }; ${hintZone(hints)} };\nview "b" { match-clients { any; }; };\n`;
    assert.throws(() => assertLoopbackRootHints('named', conf('b.conf', twoViews)), /2 place\(s\), found 1/);
    assert.throws(() => assertLoopbackRootHints('named', conf('c.conf', `${hintZone(publicHints)}\n`)), /198\.41\.0\.4/);
    assert.throws(() => assertLoopbackRootHints('unbound', conf('d.conf', 'server:\n  interface: 127.0.0.1\n')), /loopback-only root hints/);
    assert.throws(() => assertLoopbackRootHints('unbound', conf('e.conf', `server:\n  root-hints: "${publicHints}"\n`)), /198\.41\.0\.4/);
  });

  it('accepts loopback hints at top level, in every view, and for Unbound', () => {
    assertLoopbackRootHints('named', conf('f.conf', `options { recursion no; };\n${hintZone(hints)}\n`));
    assertLoopbackRootHints('named', conf('g.conf', `view "a" { ${hintZone(hints)} };\nview "b" { ${hintZone(hints)} };\n`));
    assertLoopbackRootHints('unbound', conf('h.conf', `server:\n  root-hints: "${hints}"\n`));
  });

  it('nothing under test/ or bench/ starts named or unbound except through startResolverDaemon', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const n of readdirSync(dir)) {
        if (n === 'node_modules') continue;
        const p = join(dir, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|mjs|js|sh)$/.test(n)) files.push(p);
      }
    };
    walk(join(ROOT, 'test'));
    walk(join(ROOT, 'bench'));
    // A process started with a resolver's program as its first argument: 'named', "unbound", namedPath, …
    const starts = /\b(?:spawn|spawnSync|execa|execFile|execFileSync|fork)\s*\(\s*(?:['"`][^'"`]*\b(?:named|unbound)['"`]|\w*(?:named|unbound)\w*\s*[,)])/gi;
    const offenders = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(starts)].map((m) => `${relative(ROOT, f)}: ${m[0]}`));
    assert.deepEqual(offenders, [], 'start resolvers with startResolverDaemon (test/support/resolvers.ts), which checks their root hints');
    assert.ok(files.some((f) => f.endsWith('resolvers.ts')), 'the scan saw the support files');
  });
});

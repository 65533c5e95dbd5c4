#!/usr/bin/env node
// Runs every test with node:test (through tsx) and fails when any test fails, when no test ran, or — under
// CI=true — when a test was skipped for a missing program. Node 20's `node --test` expands no globs and exits 0
// on zero tests, so the files are listed here and the counts are checked.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const roots = ['packages', 'apps', 'test'];
const skipDirs = new Set(['node_modules', 'dist', '.turbo', 'data']);

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const only = process.argv.slice(2);
const files = (only.length ? only : roots.flatMap((r) => collect(join(root, r), []))).sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('run-tests: build failed');
  process.exit(build.status ?? 1);
}

const tap = join(tmpdir(), `ocdn-tests-${process.pid}.tap`);
console.log(`run-tests: ${files.length} test files`);
const run = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    // A test that hangs fails after ten minutes instead of holding the whole run (the longest takes ~2 minutes).
    '--test-timeout=600000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: process.env },
);
let report = '';
try {
  report = readFileSync(tap, 'utf8');
  rmSync(tap, { force: true });
} catch {}
const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
const tests = count('tests');
const failed = count('fail') + count('cancelled');
const missing = [...report.matchAll(/# SKIP missing program: (\S+)/g)].map((m) => m[1]);
console.log(`run-tests: ${tests} tests, ${count('pass')} passed, ${failed} failed, ${count('skipped')} skipped`);
if (tests === 0) {
  console.error('run-tests: no test ran');
  process.exit(1);
}
if (process.env.CI === 'true' && missing.length > 0) {
  console.error(`run-tests: under CI=true these programs must be installed: ${[...new Set(missing)].join(', ')}`);
  process.exit(1);
}
process.exit(run.status === 0 && failed === 0 ? 0 : 1);

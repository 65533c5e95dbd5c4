import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jemallocLoaded, mallocHint, youngGenerationHint } from './malloc-hint.ts';

test('the allocator hint speaks only for PostgreSQL with a threshold under a socket buffer', () => {
  assert.match(mallocHint('postgres', '32768') ?? '', /MALLOC_MMAP_THRESHOLD_=131072/);
  assert.match(mallocHint('postgres', '65536') ?? '', /on PostgreSQL/);
  assert.equal(mallocHint('postgres', '131072'), null);
  assert.equal(mallocHint('postgres', undefined), null, "glibc's own dynamic threshold");
  assert.equal(mallocHint('postgres', ''), null);
  assert.equal(mallocHint('pglite', '32768'), null);
  assert.equal(mallocHint('postgres', '32768', true), null, "under jemalloc glibc's threshold plays no part");
});

test('jemallocLoaded reads the process map', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'maps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const maps = join(dir, 'maps');
  writeFileSync(maps, '7f0000000000-7f0000001000 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n');
  assert.equal(jemallocLoaded(maps), true);
  writeFileSync(maps, '7f0000000000-7f0000001000 r-xp 00000000 08:01 42 /usr/lib/x86_64-linux-gnu/libc.so.6\n');
  assert.equal(jemallocLoaded(maps), false);
  assert.equal(jemallocLoaded(join(dir, 'none')), false, 'no such file (not Linux)');
});

test('the young generation hint speaks only for PostgreSQL without a semi-space of at least 32 MB', () => {
  assert.match(youngGenerationHint('postgres', []) ?? '', /NODE_OPTIONS=--max-semi-space-size=64/);
  assert.match(youngGenerationHint('postgres', ['--max-semi-space-size=16']) ?? '', /16 MB/);
  assert.equal(youngGenerationHint('postgres', ['--max-semi-space-size=64']), null);
  assert.equal(youngGenerationHint('postgres', ['--max_semi_space_size', '32']), null);
  assert.equal(youngGenerationHint('pglite', []), null);
});

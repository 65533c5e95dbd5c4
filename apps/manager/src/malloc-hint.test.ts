import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mallocHint } from './malloc-hint.ts';

test('the allocator hint speaks only for PostgreSQL with a threshold under a socket buffer', () => {
  assert.match(mallocHint('postgres', '32768') ?? '', /MALLOC_MMAP_THRESHOLD_=131072/);
  assert.match(mallocHint('postgres', '65536') ?? '', /on PostgreSQL/);
  assert.equal(mallocHint('postgres', '131072'), null);
  assert.equal(mallocHint('postgres', undefined), null, "glibc's own dynamic threshold");
  assert.equal(mallocHint('postgres', ''), null);
  assert.equal(mallocHint('pglite', '32768'), null);
});

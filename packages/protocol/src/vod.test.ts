import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isSafeFileName, signFileUrl, verifyFileUrl, VOD_TASK_TRANSITIONS } from './vod.ts';

describe('VOD file names', () => {
  it('refuses traversal, absolute, hidden, NUL and control-character names', () => {
    for (const bad of ['', '.', '..', '../x', 'a/b', '/etc/passwd', 'a\\b', '.hidden', '.x.part', 'a\0b', 'a\nb', 'x'.repeat(256)]) {
      assert.equal(isSafeFileName(bad), false, JSON.stringify(bad));
    }
    for (const good of ['a.mpg', 'movie 01.ts', 'ünïcode.mp4', 'a..b', 'x'.repeat(255)]) assert.equal(isSafeFileName(good), true, good);
  });

  it('an accepted name always stays inside its directory (property)', () => {
    const dir = resolve('/srv/files');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        if (!isSafeFileName(name)) return;
        assert.equal(dirname(join(dir, name)), dir);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('signed download URLs', () => {
  const key = 'nod_source.secret-of-the-source-node';
  const now = 1_800_000_000;
  const q = (name: string, node: string, expires: number, k = key) => ({ node, expires: String(expires), signature: signFileUrl(k, name, node, expires) });

  it('accept the file, node and expiry they were signed for', () => {
    assert.deepEqual(verifyFileUrl(key, 'a.mpg', q('a.mpg', 'nod_vod1', now + 60), now), { ok: true, nodeId: 'nod_vod1' });
  });

  it('refuse another file, a tampered signature or node, another key, and an expired URL', () => {
    const good = q('a.mpg', 'nod_vod1', now + 60);
    assert.equal(verifyFileUrl(key, 'b.mpg', good, now).ok, false);
    assert.equal(verifyFileUrl(key, 'a.mpg', { ...good, node: 'nod_vod2' }, now).ok, false);
    assert.equal(verifyFileUrl(key, 'a.mpg', { ...good, expires: String(now + 99_999) }, now).ok, false);
    const flipped = good.signature.slice(0, -1) + (good.signature.endsWith('0') ? '1' : '0');
    assert.deepEqual(verifyFileUrl(key, 'a.mpg', { ...good, signature: flipped }, now), { ok: false, status: 403, reason: 'bad signature' });
    assert.equal(verifyFileUrl(key, 'a.mpg', q('a.mpg', 'nod_vod1', now + 60, 'another-key'), now).ok, false);
    assert.deepEqual(verifyFileUrl(key, 'a.mpg', q('a.mpg', 'nod_vod1', now - 1), now), { ok: false, status: 403, reason: 'signed URL expired' });
    assert.deepEqual(verifyFileUrl(key, 'a.mpg', {}, now), { ok: false, status: 401, reason: 'missing node token or signed URL' });
    assert.equal(verifyFileUrl(key, 'a.mpg', { ...good, signature: 'zz' }, now).ok, false);
  });
});

describe('VOD task transitions', () => {
  it('are ready → working → done | failed, with progress while working, and nothing after the end', () => {
    assert.deepEqual(VOD_TASK_TRANSITIONS, { ready: ['working', 'failed'], working: ['working', 'done', 'failed'], done: [], failed: [] });
  });
});

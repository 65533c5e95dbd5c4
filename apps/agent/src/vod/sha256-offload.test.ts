import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Sha256Offload } from './sha256-offload.ts';

/** Feeds `chunks` through the job's two slots, refilling a slot only once it is acknowledged. */
async function hashThrough(offload: Sha256Offload, chunks: Buffer[], prefix?: { path: string; bytes: number }): Promise<string> {
  const slots = [new SharedArrayBuffer(1 << 16), new SharedArrayBuffer(1 << 16)];
  const waiting: ((slot: number) => void)[] = [];
  const freed: number[] = [0, 1];
  let failed: Error | null = null;
  const job = offload.open(slots, {
    ack: (slot) => (waiting.length ? waiting.shift()!(slot) : freed.push(slot)),
    fail: (err) => (failed = err),
  });
  if (prefix) job.file(prefix.path, prefix.bytes);
  for (const chunk of chunks) {
    const slot = freed.length ? freed.shift()! : await new Promise<number>((r) => waiting.push(r));
    new Uint8Array(slots[slot]!).set(chunk);
    job.update(slot, chunk.length);
  }
  const hex = await job.digest();
  if (failed) throw failed;
  return hex;
}

describe('sha256 on its own thread', () => {
  const offload = new Sha256Offload();
  const dir = mkdtempSync(join(tmpdir(), 'ocdn-sha-'));
  after(async () => {
    await offload.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hashes slots in the order given, reusing each slot once it is acknowledged', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(1 + ((i * 7919) % (1 << 16))));
    assert.equal(await hashThrough(offload, chunks), createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
    assert.equal(await hashThrough(offload, []), createHash('sha256').digest('hex'));
  });

  it('counts a prefix read from a file before the slots, and keeps concurrent jobs apart', async () => {
    const onDisk = randomBytes(3 << 20);
    const path = join(dir, 'prefix');
    writeFileSync(path, onDisk);
    const rest = [randomBytes(1000), randomBytes(50_000)];
    const other = [randomBytes(30_000)];
    const [a, b] = await Promise.all([hashThrough(offload, rest, { path, bytes: 2_000_000 }), hashThrough(offload, other)]);
    assert.equal(a, createHash('sha256').update(onDisk.subarray(0, 2_000_000)).update(Buffer.concat(rest)).digest('hex'));
    assert.equal(b, createHash('sha256').update(other[0]!).digest('hex'));
  });

  it('fails a job with the reason when its prefix cannot be read, and goes on serving other jobs', async () => {
    await assert.rejects(hashThrough(offload, [randomBytes(10)], { path: join(dir, 'missing'), bytes: 5 }), /hashing failed: .*ENOENT/);
    const short = join(dir, 'short');
    writeFileSync(short, 'abc');
    await assert.rejects(hashThrough(offload, [], { path: short, bytes: 10 }), /hashing failed: file ended at 3 of 10 bytes/);
    assert.equal(await hashThrough(offload, [Buffer.from('x')]), createHash('sha256').update('x').digest('hex'));
  });

  it('fails the open jobs when the thread ends, and starts a new thread for the next job', async () => {
    const failed = new Promise<Error>((resolve) => offload.open([new SharedArrayBuffer(16)], { ack: () => {}, fail: resolve }));
    await offload.stop();
    assert.match((await failed).message, /hash thread exited/);
    assert.equal(await hashThrough(offload, [Buffer.from('after')]), createHash('sha256').update('after').digest('hex'));
  });
});

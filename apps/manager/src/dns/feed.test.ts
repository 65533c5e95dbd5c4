import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { waitFor } from '../../../../test/support/wait.ts';
import { FeedReader, FeedWriter, feedBuffer } from './feed.ts';

const message = (i: number) => ({ op: 'set', i, entries: [[`n${i}.example`, Array.from({ length: i % 7 }, (_, k) => ({ value: `127.0.0.${k}`, ttl: 60 }))]] });

describe('the DNS record feed', () => {
  it('hands over messages in order across the ring end, and a message larger than the ring in frames', async () => {
    const buffer = feedBuffer(256);
    const writer = new FeedWriter(buffer, 1);
    const reader = new FeedReader(buffer);
    const got: unknown[] = [];
    const sent: unknown[] = [];
    for (let i = 0; i < 200; i++) {
      const m = i % 50 === 49 ? { op: 'all', big: 'x'.repeat(1_000 + i) } : message(i);
      sent.push(m);
      writer.write(m);
      if (i % 3 === 0) reader.read((m) => got.push(m));
    }
    assert.ok(writer.waiting > 0, 'the ring filled up: the rest waits in order');
    await waitFor('every message read', async () => (reader.read((m) => got.push(m)), got.length === sent.length), { timeoutMs: 5_000, intervalMs: 1 });
    assert.deepEqual(got, sent);
    assert.equal(writer.waiting, 0);
  });

  it('reaches a thread that reads it', async (t) => {
    const buffer = feedBuffer(1024);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
         .then((tsx) => (tsx.register(), import(${JSON.stringify(new URL('./feed.ts', import.meta.url).href)})))
         .then(({ FeedReader }) => {
           const feed = new FeedReader(workerData);
           setInterval(() => feed.read((m) => parentPort.postMessage(m)), 1);
         });`,
      { eval: true, workerData: buffer },
    );
    t.after(() => worker.terminate());
    const got: unknown[] = [];
    worker.on('message', (m) => got.push(m));
    const writer = new FeedWriter(buffer, 1);
    const sent = Array.from({ length: 2_000 }, (_, i) => (i % 400 === 399 ? { op: 'all', big: 'y'.repeat(3_000) } : message(i)));
    for (const m of sent) writer.write(m);
    await waitFor('every message echoed', async () => got.length === sent.length, { timeoutMs: 20_000, intervalMs: 5 });
    assert.deepEqual(got, sent);
  });
});

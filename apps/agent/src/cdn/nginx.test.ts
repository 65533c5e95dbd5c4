// The nginx driver's files: what it remembers of a file it wrote or read must never hide a change made by someone
// else. Real files in a temp directory; `true` and `false` (real programs) stand in for nginx's test and reload.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../log.ts';
import { NginxDriver } from './nginx.ts';

const root = mkdtempSync(join(tmpdir(), 'ocdn-nginx-driver-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
async function driver(testCmd = ['true']): Promise<{ nginx: NginxDriver; file(domain: string): string }> {
  const dir = join(root, String(dirs++));
  const nginx = new NginxDriver({ confDir: join(dir, 'conf'), cacheDir: join(dir, 'cache'), testCmd, reloadCmd: ['true'], coalesceMs: 0, log: createLogger('error') });
  await nginx.start();
  return { nginx, file: (domain) => join(dir, 'conf', `${domain}.conf`) };
}

const conf = (domain: string, version: number, body = 'server { listen 80; }') => `# ocdn domain=${domain} version=${version}\n${body}\n`;

describe('NginxDriver files', () => {
  it('reports what is on disk after another writer replaced, edited or deleted a file it wrote', async () => {
    const { nginx, file } = await driver();
    await nginx.sync('a.example', 1, conf('a.example', 1));
    assert.equal((await nginx.info('a.example')).version, 1);

    // replaced by a rename (a new inode; the same size, likely the same timestamp tick)
    writeFileSync(`${file('a.example')}.new`, conf('a.example', 2));
    renameSync(`${file('a.example')}.new`, file('a.example'));
    assert.equal((await nginx.info('a.example')).version, 2);

    // edited in place to another size
    writeFileSync(file('a.example'), conf('a.example', 3, 'server { listen 8080; }'));
    const edited = await nginx.info('a.example');
    assert.equal(edited.version, 3);
    assert.notEqual(edited.hash, (await nginx.sync('a.example', 3, conf('a.example', 3))).hash);
    assert.equal(readFileSync(file('a.example'), 'utf8'), conf('a.example', 3), 'a sync over an edited file writes it');

    rmSync(file('a.example'));
    assert.deepEqual(await nginx.info('a.example'), { domain: 'a.example', version: null, hash: null });
    await nginx.sync('a.example', 3, conf('a.example', 3));
    assert.equal(readFileSync(file('a.example'), 'utf8'), conf('a.example', 3), 'a sync after a delete writes the file again');
  });

  it('leaves an unchanged file alone, and writes one whose content differs', async () => {
    const { nginx, file } = await driver();
    const first = await nginx.sync('b.example', 1, conf('b.example', 1));
    const ino = statSync(file('b.example')).ino;
    assert.deepEqual(await nginx.sync('b.example', 1, conf('b.example', 1)), first);
    assert.equal(statSync(file('b.example')).ino, ino, 'the same config is not written again');
    await nginx.sync('b.example', 2, conf('b.example', 2));
    assert.notEqual(statSync(file('b.example')).ino, ino);
    assert.equal((await nginx.info('b.example')).version, 2);
  });

  it('restores the content a refused config replaced, even when someone else wrote it after the driver did', async () => {
    const { nginx, file } = await driver(['false']);
    await nginx.sync('c.example', 1, conf('c.example', 1));
    await assert.rejects(nginx.reload('c.example'), /configuration test failed/);
    assert.equal(statSync(file('c.example'), { throwIfNoEntry: false }), undefined, 'a refused new file is removed');

    writeFileSync(file('c.example'), conf('c.example', 5, 'server { listen 81; }'));
    await nginx.sync('c.example', 6, conf('c.example', 6));
    assert.equal((await nginx.info('c.example')).version, 6);
    await assert.rejects(nginx.reload('c.example'), /configuration test failed/);
    assert.equal(readFileSync(file('c.example'), 'utf8'), conf('c.example', 5, 'server { listen 81; }'));
    assert.equal((await nginx.info('c.example')).version, 5);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_HEAD_BYTES, parseResponseHead, ResponseHeadError } from './response-head.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('response head', () => {
  it('parses the status and fields, names in lower case, repeated fields joined, and says where the body starts', () => {
    const text = 'HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nETag: "a-1"\r\nVary: a\r\nvary:  b \r\n\r\n';
    const head = parseResponseHead(bytes(`${text}0123456789`));
    assert.deepEqual(head, { status: 206, headers: { 'content-length': '10', etag: '"a-1"', vary: 'a, b' }, size: text.length });
  });

  it('waits (null) until the empty line has arrived, and takes a status line without a reason', () => {
    assert.equal(parseResponseHead(bytes('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n')), null);
    assert.equal(parseResponseHead(bytes('HTTP/1.0 404\r\n\r\n'))?.status, 404);
  });

  it('refuses what is not a plain HTTP/1.x head, naming what is wrong', () => {
    const bad: [string, RegExp][] = [
      ['HTTP/2 200\r\n\r\n', /not an HTTP\/1\.x status line/],
      ['SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP\/1\.x status line/],
      ['HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n', /malformed response header line/],
      ['HTTP/1.1 200 OK\r\nBad Name: a\r\n\r\n', /malformed response header line/],
      ['HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n', /control character/],
    ];
    for (const [text, why] of bad) assert.throws(() => parseResponseHead(bytes(text)), (e: Error) => e instanceof ResponseHeadError && why.test(e.message), JSON.stringify(text));
  });

  it(`refuses a head longer than ${MAX_HEAD_BYTES} bytes, finished or not`, () => {
    const long = `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    assert.throws(() => parseResponseHead(bytes(long)), /longer than/);
    assert.throws(() => parseResponseHead(bytes(`${long}\r\n\r\n`)), /longer than/);
  });
});

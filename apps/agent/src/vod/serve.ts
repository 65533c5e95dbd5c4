import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifyFileUrl } from '@ocdn/protocol';
import { bearerMatches } from '../auth.ts';
import type { Logger } from '../log.ts';
import { AgentRpcError } from '../rpc.ts';
import { etagOf, type FileStore } from './store.ts';

/**
 * What the agent served of each file since it started (`GET /stats`): bytes read out to clients, requests, and the
 * byte range and bytes of the last few requests.
 */
export interface ServedStats {
  [name: string]: { bytes: number; requests: number; recent: { start: number; end: number; bytes: number }[] };
}

export type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * Parses a Range header for a file of `size` bytes. Only one range is served; a header with several, or one that is
 * not in bytes, is ignored (the whole file is sent), as RFC 9110 allows.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null; // invalid: ignored
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * `GET|HEAD /files/:name`, written straight to the socket (no body adaptor in between) so that serving a large
 * file costs little more than the copy. The caller is the manager (bearer node token) or a peer with a URL the
 * manager signed for this file. A `Want-Repr-Digest: sha-256` request gets the file's sha256 in `Repr-Digest`.
 */
export function createFileHandler(deps: { store: FileStore; token: string; log: Logger; stats: ServedStats }) {
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    const body = JSON.stringify({ error: { code, message } });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  return async function handle(req: IncomingMessage, res: ServerResponse, rawName: string, query: URLSearchParams): Promise<void> {
    let name: string;
    try {
      name = decodeURIComponent(rawName);
      deps.store.pathOf(name);
    } catch (err) {
      const message = err instanceof AgentRpcError ? err.message : 'file name is not valid percent-encoding';
      return fail(res, 400, 'invalid_params', message);
    }
    if (!bearerMatches(req.headers.authorization, deps.token)) {
      const check = verifyFileUrl(deps.token, name, { node: query.get('node'), expires: query.get('expires'), signature: query.get('signature') });
      if (!check.ok) return fail(res, check.status, check.status === 401 ? 'unauthorized' : 'forbidden', check.reason);
    }
    const found = await deps.store.statFile(name);
    if (!found) return fail(res, 404, 'not_found', `no file ${name}`);
    // Read through one descriptor, so that what is sent is the file that was stat'ed even if it is replaced.
    const fh = await open(found.path, 'r');
    try {
      const st = await fh.stat();
      const etag = etagOf(st);
      const headers: Record<string, string | number> = {
        'accept-ranges': 'bytes',
        etag,
        'last-modified': st.mtime.toUTCString(),
        'content-type': 'application/octet-stream',
      };
      const want = String(req.headers['want-repr-digest'] ?? req.headers['want-digest'] ?? '');
      if (/sha-256/i.test(want)) {
        const hex = await deps.store.digest(name, found.path, st);
        headers['repr-digest'] = `sha-256=:${Buffer.from(hex, 'hex').toString('base64')}:`;
      }
      const ifRange = req.headers['if-range'];
      let range = parseRange(req.headers.range, st.size);
      if (range && ifRange !== undefined && ifRange !== etag) range = null; // changed since: the whole file
      if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${st.size}`, 'content-length': 0 });
        return void res.end();
      }
      const start = range ? range.start : 0;
      const end = range ? range.end : st.size - 1;
      const length = st.size === 0 ? 0 : end - start + 1;
      if (range) headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
      headers['content-length'] = length;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD' || length === 0) return void res.end();

      const s = (deps.stats[name] ??= { bytes: 0, requests: 0, recent: [] });
      s.requests++;
      const one = { start, end, bytes: 0 };
      s.recent = [...s.recent.slice(-19), one];
      await sendRange(fh.fd, start, end, res, (n) => {
        s.bytes += n;
        one.bytes += n;
      }).catch((err: Error) => {
        // The head is out: all that can be done is to cut the body short, which the client sees as an error.
        deps.log.warn({ file: name, err: err.message }, 'reading a file being served failed');
        res.destroy(err);
      });
    } finally {
      await fh.close();
    }
  };
}

/** Bytes read per turn; two buffers of this size per response. */
const SEND_CHUNK = 1 << 20;

/**
 * Sends bytes `start..end` of `fd` to `res` through two buffers that take turns: one is read into while the other
 * is on its way to the socket, and neither is reused before the socket is done with it. Fixed buffers, not a new
 * one per read: on this VM freshly allocated memory costs page faults that halved the throughput of some runs.
 * Stops quietly when the client goes away; rejects when the file cannot be read to `end`.
 */
async function sendRange(fd: number, start: number, end: number, res: ServerResponse, sent: (n: number) => void): Promise<void> {
  const bufs = [Buffer.allocUnsafeSlow(SEND_CHUNK), Buffer.allocUnsafeSlow(SEND_CHUNK)];
  const inFlight: (Promise<void> | null)[] = [null, null];
  let gone = false;
  const closed = new Promise<void>((resolve) =>
    res.once('close', () => {
      gone = true;
      resolve();
    }),
  );
  let i = 0;
  for (let pos = start; pos <= end && !gone; i ^= 1) {
    await inFlight[i];
    if (gone) break;
    const buf = bufs[i]!;
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, Math.min(SEND_CHUNK, end - pos + 1), pos, (err, got) => (err ? reject(err) : resolve(got))));
    if (n === 0) throw new Error(`file ended at byte ${pos}, before ${end + 1}: it shrank while being served`);
    pos += n;
    sent(n);
    inFlight[i] = Promise.race([new Promise<void>((resolve) => res.write(buf.subarray(0, n), () => resolve())), closed]);
  }
  await Promise.all(inFlight);
  if (!gone) res.end();
}

import { fdatasync, write } from 'node:fs';
import { writeFile, type FileHandle } from 'node:fs/promises';
import { connect, isIP, type Socket } from 'node:net';
// Node reads into our buffers (onread) on TLS sockets as on plain ones; @types/node lists onread for net only.
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { parseResponseHead, type ResponseHead, type ResponseHeadError } from './response-head.ts';
import { sha256Offload, type Sha256Job } from './sha256-offload.ts';
import type { TokenBucket } from './token-bucket.ts';

export class DownloadError extends Error {
  override name = 'DownloadError';
  /** The bytes on disk cannot be resumed (wrong checksum, the source changed): remove them. */
  readonly discard: boolean;
  constructor(message: string, opts: { discard?: boolean } = {}) {
    super(message);
    this.discard = opts.discard ?? false;
  }
}

/** How a download goes about it. */
export interface TransferOptions {
  signal: AbortSignal;
  /** Called with the bytes of the file on disk so far (resumed bytes included), at most every `progressMs`. */
  onProgress?: ((bytes: number) => void) | undefined;
  progressMs?: number | undefined;
  /** A bandwidth cap shared with other downloads. */
  bucket?: TokenBucket | undefined;
  /** A source that sends nothing for this long is given up on. */
  idleTimeoutMs?: number | undefined;
  /**
   * Make the file durable before it takes its name (fdatasync as it goes and before the rename, then fsync of the
   * directory), so that a power cut cannot leave a file with missing blocks under a real name. Default true.
   */
  durable?: boolean | undefined;
  /** PEM trusted for an https source (default: the system store). */
  ca?: string | undefined;
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  /** Bytes that were already on disk from an earlier, interrupted attempt. */
  resumedFrom: number;
}

function parseDigest(header: string | undefined): string | null {
  const m = /sha-256=:([A-Za-z0-9+/=]+):/i.exec(header ?? '');
  return m ? Buffer.from(m[1]!, 'base64').toString('hex') : null;
}

/** Slots the body is read into: each is written to disk and hashed (on the hash thread), then reused. */
const SLOTS = 4;
const SLOT_BYTES = 4 << 20;
/** A slot with less room left than this is handed on rather than read into with a small read. */
const MIN_READ = 128 << 10;
/** A slot holding bytes this long is handed on even if not full: a slow source's bytes reach the disk (and the
 * progress reports) within about this time. */
const SLOT_MAX_AGE_MS = 1000;
const ERROR_BODY_BYTES = 2000;
/** Durable mode: a write-back of the part file is started every this many bytes. */
const FLUSH_BYTES = 32 << 20;

/**
 * One GET of the source, over a plain socket: the body is read straight into shared-memory slots (no per-chunk
 * buffers, no stream adaptors), each slot written at its offset in the part file by one write at a time — so the
 * part file is always an unbroken prefix of the file, safe to resume from — and hashed on the hash thread at the
 * same time. Reading pauses while every slot is busy (the disk or the hash is behind) and while the bandwidth cap
 * says to wait.
 */
export class Transfer {
  private readonly slots = Array.from({ length: SLOTS }, () => new SharedArrayBuffer(SLOT_BYTES));
  private readonly views = this.slots.map((s) => Buffer.from(s));
  private readonly busy = new Uint8Array(SLOTS);
  private readonly free: number[] = [];
  private cur = 0;
  private fill = 0;
  private head: ResponseHead | null = null;
  private errorBody = false;
  private bodyLength = 0;
  private received = 0;
  private total = 0;
  private digest = '';
  private writePos: number;
  private onDisk: number;
  private writes: Promise<void> = Promise.resolve();
  private error: Error | null = null;
  private complete = false;
  private readonly holds = new Set<'slots' | 'rate'>();
  private paused = false;
  private rateTimer: NodeJS.Timeout | undefined;
  private lastReport = 0;
  private readonly maxRead: number;
  private readonly slotLimit: number;
  private slotSince = 0;
  /** Durable mode: bytes written since the last flush was started, and the flush in flight. */
  private readonly durable: boolean;
  private unflushed = 0;
  private flushing: Promise<void> | null = null;
  private sock!: Socket;
  private job!: Sha256Job;
  private settle!: { resolve(): void; reject(err: Error): void };

  constructor(
    private readonly opts: TransferOptions,
    private readonly url: URL,
    private readonly fh: FileHandle,
    private readonly part: string,
    private readonly state: string,
    private readonly offset: number,
    private readonly etag: string | null,
  ) {
    for (let i = SLOTS - 1; i > 0; i--) this.free.push(i);
    this.writePos = offset;
    this.onDisk = offset;
    this.durable = opts.durable !== false;
    // Under a cap, reads of about an eighth of a second's bytes keep the flow even, and slots of a quarter second's
    // keep the disk and the progress reports close behind.
    const rate = opts.bucket?.bytesPerSecond ?? Infinity;
    this.maxRead = Math.max(16 << 10, Math.min(SLOT_BYTES, Math.floor(rate / 8)));
    this.slotLimit = Math.max(2 * MIN_READ, Math.min(SLOT_BYTES, Math.floor(rate / 4)));
  }

  async run(): Promise<TransferResult> {
    const { signal } = this.opts;
    const onAbort = () => this.fail(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted')));
    signal.addEventListener('abort', onAbort, { once: true });
    const body = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.job = sha256Offload.open(this.slots, { ack: (slot) => this.release(slot), fail: (err) => this.fail(err) });
    if (signal.aborted) onAbort();
    try {
      if (!this.error) this.connect();
      await body;
      await this.writes;
      if (this.error) throw this.error;
      const [sha256] = await Promise.all([this.job.digest(), this.durable ? this.flush(true) : null]);
      if (sha256 !== this.digest) {
        throw new DownloadError(`checksum mismatch: got sha256 ${sha256}, source stated ${this.digest} (the file changed on the source?)`, { discard: true });
      }
      return { bytes: this.total, sha256, resumedFrom: this.head!.status === 206 ? this.offset : 0 };
    } catch (err) {
      this.fail(err as Error);
      await this.writes; // nothing may still be writing when the caller closes the file
      await this.flushing;
      throw this.error!;
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(this.rateTimer);
      this.job.close();
      this.sock?.destroy();
    }
  }

  private connect(): void {
    const { url } = this;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'User-Agent: ocdn-agent', 'Connection: close', 'Want-Repr-Digest: sha-256=10'];
    if (this.offset > 0) lines.push(`Range: bytes=${this.offset}-`, `If-Range: ${this.etag}`);
    const onread = { buffer: () => this.readTarget(), callback: (n: number) => this.onRead(n) };
    const secure = url.protocol === 'https:';
    const sock = secure
      ? connectTls({ host, port: Number(url.port || 443), ca: this.opts.ca, onread, ...(isIP(host) ? {} : { servername: host }) } as ConnectionOptions)
      : connect({ host, port: Number(url.port || 80), onread });
    this.sock = sock;
    const idle = this.opts.idleTimeoutMs ?? 30_000;
    sock.setTimeout(idle);
    sock.on(secure ? 'secureConnect' : 'connect', () => sock.write(`${lines.join('\r\n')}\r\n\r\n`));
    sock.on('timeout', () => {
      if (this.paused) sock.setTimeout(idle); // our own pause, not the source's silence
      else this.fail(new DownloadError(`source sent nothing for ${idle >= 1000 ? `${Math.round(idle / 1000)} s` : `${idle} ms`}`));
    });
    sock.on('error', (err) => this.fail(new DownloadError(`source connection failed: ${err.message}`)));
    sock.on('close', () => {
      if (this.complete || this.error) return;
      if (this.errorBody) return this.failWithErrorBody();
      this.fail(
        new DownloadError(this.head ? `source closed the connection after ${this.received} of ${this.bodyLength} bytes` : 'source closed the connection without answering'),
      );
    });
  }

  /** Where the next read goes: the free room of the current slot. */
  private readTarget(): Buffer {
    return this.views[this.cur]!.subarray(this.fill, Math.min(this.slotLimit, this.fill + this.maxRead));
  }

  private onRead(n: number): boolean {
    if (this.complete || this.error) return false;
    let body = n;
    this.fill += n;
    if (!this.head) {
      const view = this.views[this.cur]!;
      let head: ResponseHead | null;
      try {
        head = parseResponseHead(view.subarray(0, this.fill));
      } catch (err) {
        this.fail(new DownloadError(`source sent a malformed answer: ${(err as ResponseHeadError).message}`));
        return false;
      }
      if (!head) return true;
      this.head = head;
      view.copyWithin(0, head.size, this.fill);
      this.fill -= head.size;
      body = this.fill;
      try {
        this.accept(head);
      } catch (err) {
        this.fail(err as Error);
        return false;
      }
    }
    if (this.received + body > this.bodyLength) {
      // More than Content-Length said: not part of this file.
      this.fill -= this.received + body - this.bodyLength;
      body = this.bodyLength - this.received;
    }
    this.received += body;
    if (this.errorBody) {
      if (this.received >= this.bodyLength || this.fill >= ERROR_BODY_BYTES) this.failWithErrorBody();
      return !this.error;
    }
    const wait = this.opts.bucket && body > 0 ? this.opts.bucket.reserve(body) : 0;
    if (this.received === this.bodyLength) {
      this.submit();
      this.complete = true;
      this.settle.resolve();
      return false;
    }
    if (this.fill === body) this.slotSince = performance.now(); // the first bytes in this slot
    if (this.slotLimit - this.fill < MIN_READ || performance.now() - this.slotSince >= SLOT_MAX_AGE_MS) this.submit();
    if (wait > 0) {
      this.hold('rate');
      this.rateTimer = setTimeout(() => this.unhold('rate'), wait);
    }
    return true;
  }

  /** Decides from the head what the body is; throws a DownloadError when it cannot be this file. */
  private accept(head: ResponseHead): void {
    const { status, headers } = head;
    const cl = headers['content-length'];
    const length = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : NaN;
    if (status === 416) {
      // What we hold is not a prefix of the file any more: start over next time.
      throw new DownloadError('source refused the resume range (the file changed); partial file discarded', { discard: true });
    }
    if (status !== 200 && status !== 206) {
      this.errorBody = true;
      this.bodyLength = Number.isFinite(length) ? length : ERROR_BODY_BYTES;
      return;
    }
    if (headers['transfer-encoding']) throw new DownloadError(`source sent a ${headers['transfer-encoding']}-coded body; a file must come with its Content-Length`);
    if (!Number.isFinite(length)) throw new DownloadError('source stated no length');
    const digest = parseDigest(headers['repr-digest']);
    if (!digest) throw new DownloadError('source stated no sha-256 digest (Repr-Digest); refusing an unverifiable file');
    let total = length;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
      if (this.offset === 0 || !m || Number(m[1]) !== this.offset || Number(m[2]) - Number(m[1]) + 1 !== length) {
        throw new DownloadError(`source answered a range other than the one asked (${headers['content-range']})`);
      }
      total = Number(m[3]);
      this.job.file(this.part, this.offset); // the bytes on disk are part of the file: they count in its checksum
    } else {
      this.writePos = 0;
      this.onDisk = 0;
    }
    this.digest = digest;
    this.total = total;
    this.bodyLength = length;
    const fresh = status === 200 && this.offset > 0;
    const etag = headers.etag ?? '';
    // Before the first byte lands: an empty part file if the whole file comes again, and the validator of the bytes.
    this.enqueue(async () => {
      if (fresh) await this.fh.truncate(0);
      await writeFile(this.state, JSON.stringify({ etag }));
    });
  }

  private failWithErrorBody(): void {
    const text = this.views[this.cur]!.subarray(0, Math.min(this.fill, ERROR_BODY_BYTES)).toString('utf8');
    this.fail(new DownloadError(`source answered HTTP ${this.head!.status}: ${text.slice(0, 300)}`));
  }

  /**
   * Hands the current slot to the disk and the hash thread and moves on to a free one. Reading stops while no slot
   * is left spare, so that the slot being read into is always a real one: the socket goes on reading into the last
   * buffer it was given when it resumes.
   */
  private submit(): void {
    const slot = this.cur;
    const length = this.fill;
    if (length === 0) return;
    this.busy[slot] = 2;
    this.job.update(slot, length);
    const pos = this.writePos;
    this.writePos += length;
    this.enqueue(async () => {
      await writeAll(this.fh.fd, this.views[slot]!, length, pos);
      this.onDisk += length;
      this.progress();
      this.release(slot);
      this.unflushed += length;
      if (this.durable && this.unflushed >= FLUSH_BYTES && !this.flushing) void this.flush(false);
    });
    this.fill = 0;
    this.cur = this.free.pop()!; // there is one: reading has stopped whenever none was left
    if (this.free.length === 0) this.hold('slots');
  }

  private release(slot: number): void {
    if (--this.busy[slot]! > 0) return;
    this.free.push(slot);
    this.unhold('slots');
  }

  /** Disk operations run one after another, in order; the first that fails fails the download. */
  private enqueue(op: () => Promise<void>): void {
    this.writes = this.writes.then(async () => {
      if (this.error) return;
      try {
        await op();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        this.fail(new DownloadError(`writing ${this.part} failed: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' ')));
      }
    });
  }

  /**
   * Starts writing back what is on disk so far, beside the writes that go on (the page cache would otherwise hold a
   * whole file for the final fdatasync to write out at once); `last` waits for any flush in flight and makes one
   * that covers every byte.
   */
  private async flush(last: boolean): Promise<void> {
    if (last) await this.flushing;
    this.unflushed = 0;
    const p = new Promise<void>((resolve, reject) => fdatasync(this.fh.fd, (err) => (err ? reject(err) : resolve())));
    this.flushing = p.then(
      () => {
        this.flushing = null;
      },
      (err: NodeJS.ErrnoException) => {
        this.flushing = null;
        this.fail(new DownloadError(`flushing ${this.part} to disk failed: ${err.code ?? ''} ${err.message}`));
      },
    );
    await this.flushing;
    if (last && this.error) throw this.error;
  }

  private progress(): void {
    const { onProgress } = this.opts;
    const now = performance.now();
    if (onProgress && now - this.lastReport >= (this.opts.progressMs ?? 1000)) {
      this.lastReport = now;
      onProgress(this.onDisk);
    }
  }

  private hold(why: 'slots' | 'rate'): void {
    this.holds.add(why);
    if (!this.paused) {
      this.paused = true;
      this.sock.pause();
    }
  }

  private unhold(why: 'slots' | 'rate'): void {
    this.holds.delete(why);
    if (this.paused && this.holds.size === 0 && !this.complete && !this.error) {
      this.paused = false;
      this.sock.resume();
    }
  }

  private fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    clearTimeout(this.rateTimer);
    this.sock?.destroy();
    this.settle?.reject(err);
  }
}

function writeAll(fd: number, buf: Buffer, length: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) =>
      write(fd, buf, off, length - off, position + off, (err, n) => {
        if (err) return reject(err);
        if (off + n < length) return step(off + n);
        resolve();
      });
    step(0);
  });
}

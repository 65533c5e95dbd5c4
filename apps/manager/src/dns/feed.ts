// The record feed from the manager's thread to the DNS answering thread (OCDN_DNS_ISOLATION=thread): messages in a
// ring of shared memory that the answering thread reads every few milliseconds, instead of a MessagePort.
//
// Why: posting to a thread's MessagePort wakes it while the poster still holds the port's lock. The answering thread
// runs in the real-time class, so it takes the poster's core at once, finds the lock held and sleeps until the
// manager's thread — preempted at normal priority, on a machine busy with a rollout — runs again. During a 1,000 x 50
// rollout on the embedded database, a trace of the answering thread showed 30 such waits in 25 s, and the answer p99
// was 13-29 ms (4.3 ms with the answerer in a process of its own). A ring has no lock and wakes nobody.
//
// One writer, one reader. Two counters of bytes ever written and ever read; a frame is a 4-byte length (its top bit:
// more frames of the same message follow) and that many bytes of the message's JSON. A message larger than half the
// ring goes in several frames; a writer that finds the ring full keeps the rest in order and tries again shortly.

const WRITTEN = 0;
const READ = 1;
const MORE = 0x8000_0000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function view(buffer: SharedArrayBuffer): { ctl: BigInt64Array; data: Uint8Array } {
  return { ctl: new BigInt64Array(buffer, 0, 2), data: new Uint8Array(buffer, 16) };
}

/** A ring of `capacity` bytes of messages, to hand to both ends (a thread gets it in its workerData). */
export function feedBuffer(capacity = 4 * 1024 * 1024): SharedArrayBuffer {
  return new SharedArrayBuffer(16 + capacity);
}

export class FeedWriter {
  private readonly ctl: BigInt64Array;
  private readonly data: Uint8Array;
  /** Frames waiting for room, in order. */
  private backlog: { head: number; body: Uint8Array }[] = [];
  private retry: NodeJS.Timeout | undefined;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly retryMs = 2,
  ) {
    ({ ctl: this.ctl, data: this.data } = view(buffer));
  }

  write(message: unknown): void {
    const bytes = encoder.encode(JSON.stringify(message));
    const most = Math.floor(this.data.length / 2) - 4;
    for (let at = 0; at < bytes.length; at += most) {
      const body = bytes.subarray(at, at + most);
      this.backlog.push({ head: body.length | (at + most < bytes.length ? MORE : 0), body });
    }
    this.flush();
  }

  /** Frames not in the ring yet (it was full). */
  get waiting(): number {
    return this.backlog.length;
  }

  stop(): void {
    clearTimeout(this.retry);
    this.backlog = [];
  }

  private flush(): void {
    if (this.retry) return; // a retry is due: it keeps the order
    const cap = this.data.length;
    let written = Number(Atomics.load(this.ctl, WRITTEN));
    let taken = 0;
    for (const frame of this.backlog) {
      const read = Number(Atomics.load(this.ctl, READ));
      if (cap - (written - read) < 4 + frame.body.length) break;
      const head = new Uint8Array(4);
      new DataView(head.buffer).setUint32(0, frame.head >>> 0);
      this.put(written, head);
      this.put(written + 4, frame.body);
      written += 4 + frame.body.length;
      Atomics.store(this.ctl, WRITTEN, BigInt(written)); // after the bytes: the reader sees them whole
      taken++;
    }
    this.backlog.splice(0, taken);
    if (this.backlog.length > 0) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, this.retryMs);
      this.retry.unref();
    }
  }

  private put(pos: number, bytes: Uint8Array): void {
    const cap = this.data.length;
    const at = pos % cap;
    const first = Math.min(bytes.length, cap - at);
    this.data.set(bytes.subarray(0, first), at);
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0);
  }
}

export class FeedReader {
  private readonly ctl: BigInt64Array;
  private readonly data: Uint8Array;
  /** The frames read so far of a message whose last frame has not come yet. */
  private parts: Uint8Array[] = [];

  constructor(buffer: SharedArrayBuffer) {
    ({ ctl: this.ctl, data: this.data } = view(buffer));
  }

  /** Hands every whole message written since the last read to `take`, in order; returns how many. */
  read(take: (message: unknown) => void): number {
    const written = Number(Atomics.load(this.ctl, WRITTEN));
    let read = Number(Atomics.load(this.ctl, READ));
    // Nothing new (most reads, every few milliseconds): nothing allocated, nothing written. Garbage on the answering
    // thread is collected with the help of threads at normal priority, which a busy machine makes it wait for.
    if (read === written) return 0;
    const messages: unknown[] = [];
    while (read < written) {
      const head = new DataView(this.get(read, 4).buffer).getUint32(0);
      const length = head & ~MORE;
      this.parts.push(this.get(read + 4, length));
      read += 4 + length;
      if (head & MORE) continue;
      const whole = this.parts.length === 1 ? this.parts[0]! : concat(this.parts);
      this.parts = [];
      messages.push(JSON.parse(decoder.decode(whole)));
    }
    Atomics.store(this.ctl, READ, BigInt(read)); // the room is the writer's again
    for (const m of messages) take(m);
    return messages.length;
  }

  /** A copy of `length` bytes from `pos`. */
  private get(pos: number, length: number): Uint8Array {
    const cap = this.data.length;
    const at = pos % cap;
    const out = new Uint8Array(length);
    const first = Math.min(length, cap - at);
    out.set(this.data.subarray(at, at + first));
    if (first < length) out.set(this.data.subarray(0, length - first), first);
    return out;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

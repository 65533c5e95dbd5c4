/**
 * Group commit: writes that arrive while one batch is being committed wait and go together in the next, in one
 * transaction. An idle writer commits at once, so a lone write waits no longer than it would alone; under load, a
 * thousand writes cost a few statements instead of a few thousand.
 *
 * Writes with the same key never share a batch: the second waits for the next one, so they land in order.
 */
export class GroupCommit<W, R> {
  private queue: { write: W; resolve(result: R): void; reject(err: unknown): void }[] = [];
  private flushing = false;
  /** Batches whose writers have been told their results (or their error). */
  reported = 0;

  constructor(
    /** Commits a batch; returns one result per write, in order. */
    private readonly commit: (writes: W[]) => Promise<R[]>,
    private readonly keyOf: (write: W) => string,
    private readonly maxBatch = 1_000,
  ) {}

  /** Nothing queued and nothing being committed. */
  get idle(): boolean {
    return !this.flushing && this.queue.length === 0;
  }

  write(write: W): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          const results = await this.commit(batch.map((q) => q.write));
          batch.forEach((q, i) => q.resolve(results[i]!));
        } catch (err) {
          for (const q of batch) q.reject(err);
        }
        this.reported++;
      }
    } finally {
      this.flushing = false;
    }
  }

  private takeBatch(): typeof this.queue {
    const seen = new Set<string>();
    let n = 0;
    while (n < this.queue.length && n < this.maxBatch) {
      const key = this.keyOf(this.queue[n]!.write);
      if (seen.has(key)) break;
      seen.add(key);
      n++;
    }
    return this.queue.splice(0, n);
  }
}

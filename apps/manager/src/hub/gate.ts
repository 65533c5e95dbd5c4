/**
 * At most `limit` tasks at once per key, started in the order they came. A task starts on a later turn of the event
 * loop (setImmediate), never inside run(): what a caller queues in the same turn is there when the task looks (the
 * traffic's turns carry every request queued by then). A key with nothing running or waiting is forgotten.
 *
 * OCDN_TRAFFIC used a bottleneck Group for this; in a rollout's profile bottleneck's per-job bookkeeping (async
 * generators, events, a limiter object and timer per node) was ~7 % of the manager's CPU, for a counter and a queue.
 */
export class KeyedGate {
  private readonly keys = new Map<string, { running: number; waiting: (() => void)[] }>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`KeyedGate: limit must be at least 1, got ${limit}`);
  }

  run(key: string, task: () => Promise<void>): Promise<void> {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = { running: 0, waiting: [] }));
    const s = state;
    return new Promise<void>((resolve, reject) => {
      const start = () => {
        s.running++;
        setImmediate(() => {
          let done: Promise<void>;
          try {
            done = task();
          } catch (err) {
            done = Promise.reject(err);
          }
          // The slot is free (and the next task scheduled) before the caller hears of the outcome.
          done.finally(() => this.release(key, s)).then(resolve, reject);
        });
      };
      if (s.running < this.limit) start();
      else s.waiting.push(start);
    });
  }

  /** Keys with something running or waiting (for tests and metrics). */
  get size(): number {
    return this.keys.size;
  }

  private release(key: string, s: { running: number; waiting: (() => void)[] }): void {
    s.running--;
    const next = s.waiting.shift();
    if (next) next();
    else if (s.running === 0 && this.keys.get(key) === s) this.keys.delete(key);
  }
}

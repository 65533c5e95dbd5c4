import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * How late this process's event loop has been. When the manager is overloaded (on the embedded database, every
 * query runs on this thread), heartbeats wait unread in the sockets; silence then says nothing about the agents,
 * and whoever judges agents by silence must ask this first.
 */
export class LoopLag {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });

  constructor() {
    this.histogram.enable();
  }

  /** The longest event-loop delay in ms since the previous call. */
  takeMaxMs(): number {
    const max = this.histogram.max / 1e6;
    this.histogram.reset();
    return max;
  }

  stop(): void {
    this.histogram.disable();
  }
}

/**
 * Runs `fn` once the event loop has read what its sockets hold. A timer fires in the loop's first phase, before the
 * poll phase reads the sockets: after a busy stretch of this thread, a frame or a connect that arrived meanwhile is
 * still unread then, and a verdict of silence taken in the timer would blame the far end for this thread's delay.
 * setImmediate runs after that poll phase.
 */
export function afterPendingIo(fn: () => void): void {
  setImmediate(fn);
}

/**
 * Resolves on a later turn of the event loop (after its I/O): long work broken up with it keeps every turn short, so
 * that heartbeats and timers are read between the pieces and LoopLag does not count the work as overload.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

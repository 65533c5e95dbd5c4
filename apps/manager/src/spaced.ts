/**
 * Spaces a batched statement out: the first after a quiet spell runs on the next turn of the event loop, and while
 * requests keep coming each runs `gapMs` after the previous one started. What is queued meanwhile goes in the next.
 *
 * Why: Node accepts one connection per turn of its event loop (libuv since 1.45), so when thousands of agents
 * reconnect after a restart a "one statement per turn" batch holds one agent, and the statements themselves — a
 * token lookup, a notice for the console — were a fifth of the manager's busy thread (bench/hub, 5,000 agents on the
 * embedded database: 3,269 single-row lookups and 2,750 notices in the first 20 s).
 */
export function spaced(gapMs: number): (run: () => void) => void {
  let last = -Infinity;
  let waiting = false;
  return (run) => {
    if (waiting) return;
    waiting = true;
    const go = () => {
      waiting = false;
      last = performance.now();
      run();
    };
    const wait = last + gapMs - performance.now();
    if (wait <= 0) setImmediate(go);
    else setTimeout(go, wait);
  };
}

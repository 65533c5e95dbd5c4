/** A node's health as the monitor counts it: healthy or not, and the run of equal check results behind it. */
export interface HealthCount {
  healthy: boolean;
  /** Missed checks in a row (0 after a good one). */
  misses: number;
  /** Good checks in a row (0 after a miss). */
  successes: number;
}

export type HealthChange = 'fault' | 'recover' | null;

/**
 * Counts one heartbeat check. A healthy node becomes unhealthy after `faultAfter` misses in a row (FAULT_NODE), an
 * unhealthy one healthy after `recoverAfter` good checks in a row (RECOVER_NODE); anything shorter changes nothing,
 * so a node that flaps faster than that never moves its DNS answer. Pure: returns the next count and the change.
 */
export function countCheck(h: HealthCount, ok: boolean, faultAfter: number, recoverAfter: number): { next: HealthCount; change: HealthChange } {
  const next: HealthCount = ok ? { healthy: h.healthy, misses: 0, successes: h.successes + 1 } : { healthy: h.healthy, misses: h.misses + 1, successes: 0 };
  if (next.healthy && next.misses >= faultAfter) return { next: { ...next, healthy: false }, change: 'fault' };
  if (!next.healthy && next.successes >= recoverAfter) return { next: { ...next, healthy: true }, change: 'recover' };
  return { next, change: null };
}

/**
 * Conclusive evidence that a node is down (its agent's socket closed and a probe was refused at once; or its socket
 * silent for OCDN_FAULT_AFTER heartbeat periods): the node is unhealthy now, as if it had missed `faultAfter`
 * checks. Recovery still takes `recoverAfter` good checks in a row, so flapping stays bounded.
 */
export function conclusiveFault(h: HealthCount, faultAfter: number): { next: HealthCount; change: HealthChange } {
  return { next: { healthy: false, misses: Math.max(h.misses, faultAfter), successes: 0 }, change: h.healthy ? 'fault' : null };
}

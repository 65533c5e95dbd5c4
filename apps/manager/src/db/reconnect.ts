/**
 * How long a postgres.js connection waits before it tries PostgreSQL again, in seconds (its `backoff` option):
 * 25–50 ms after the first failure, doubling, never more than 0.5–1 s.
 *
 * The driver's default grows as 3^n / 100 up to 20 s, and n counts every failed attempt of every connection of the
 * pool together. While PostgreSQL restarted for a second or two, a manager's ten connections failed often enough for
 * each to wait 10–20 s before its next try, and a query waits for a connection's try: requests were answered 503 after
 * 15–27 s, some only after 30 s, and the manager reached the database again many seconds after it was back. A
 * reconnect is one TCP connection and a startup message; one a second from each of a manager's pools costs a database
 * that is coming back nothing worth waiting 20 s for.
 */
export function reconnectBackoff(failures: number): number {
  return Math.min(0.05 * 2 ** failures, 1) * (0.5 + Math.random() / 2);
}

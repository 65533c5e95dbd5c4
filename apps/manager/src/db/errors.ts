/** Errors that mean "the database cannot be reached right now" (connection refused or lost, server shutting down). */
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

/** The driver's error code (SQLSTATE or connection code) of an error or of one it wraps (drizzle wraps them). */
function codesOf(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

export function isDatabaseUnavailable(err: unknown): boolean {
  return codesOf(err).some((c) => UNAVAILABLE.has(c));
}

/** A unique constraint refused the write (SQLSTATE 23505), on PostgreSQL and PGlite alike. */
export function isUniqueViolation(err: unknown): boolean {
  return codesOf(err).includes('23505');
}

/** PostgreSQL chose this transaction as a deadlock's victim (SQLSTATE 40P01): trying it again may well succeed. */
export function isDeadlock(err: unknown): boolean {
  return codesOf(err).includes('40P01');
}

/** The SQLSTATE (or connection code) of an error, looking through drizzle's wrapper: the first one found. */
export function sqlState(err: unknown): string | undefined {
  return codesOf(err)[0];
}

/**
 * A statement ran in a transaction that an earlier statement had already aborted (SQLSTATE 25P02): that earlier
 * failure is the one that matters, and whoever owns the transaction reports it.
 */
export function isAbortedTransaction(err: unknown): boolean {
  return codesOf(err).includes('25P02');
}

import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ServiceError, type ServiceErrorCode } from '../errors.ts';
import { z } from '@hono/zod-openapi';
import { isAbortedTransaction, isDatabaseUnavailable } from '../db/errors.ts';
import type { Logger } from '../log.ts';

/** Each service error code's HTTP status: the one place where outcomes become statuses. */
const STATUS: Record<ServiceErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unavailable: 503,
};

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

/** Turns zod issues into a 400 whose details name each bad field. */
export function validationError(issues: readonly z.core.$ZodIssue[], where: string): ServiceError {
  const details = issues.map((i) => {
    const keys = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys : [];
    const path = [...i.path.map(String), ...(keys.length === 1 ? keys : [])].join('.');
    return { field: path || where, message: i.message };
  });
  const first = details[0];
  const message = first ? `invalid ${where}: ${first.field}: ${first.message}` : `invalid ${where}`;
  return new ServiceError('bad_request', message, details);
}

export function renderError(c: Context, err: unknown, log: Logger): Response {
  if (err instanceof ServiceError) {
    return c.json({ error: { code: err.code, message: err.message, details: err.details } }, STATUS[err.code]);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code: ServiceErrorCode | 'internal' = status === 413 ? 'payload_too_large' : status === 401 ? 'unauthorized' : status < 500 ? 'bad_request' : 'internal';
    return c.json({ error: { code, message: err.message || 'request refused' } }, status);
  }
  if (err instanceof SyntaxError) {
    return c.json({ error: { code: 'bad_request', message: `request body is not valid JSON: ${err.message}` } }, 400);
  }
  if (isDatabaseUnavailable(err)) {
    // Not the caller's mistake and not a bug: the database is away (a restart, a failover). The driver reconnects.
    log.warn({ err: (err as Error).message, path: c.req.path, method: c.req.method }, 'database unavailable');
    return c.json({ error: { code: 'unavailable', message: 'the database is unavailable; try again shortly' } }, 503, { 'retry-after': '1' });
  }
  if (isAbortedTransaction(err)) {
    // An earlier statement of the request's transaction failed, and the unit of work that owns it answers for it
    // (http/access.ts): a refused caller, say. This one is only its echo.
    log.debug({ err: (err as Error).message, path: c.req.path, method: c.req.method }, 'statement in an aborted transaction');
  } else log.error({ err, path: c.req.path, method: c.req.method }, 'unexpected error');
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
}

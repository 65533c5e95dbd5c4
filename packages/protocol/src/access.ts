import * as z from 'zod/mini';

/** Roles of API tokens, each allowed what the one before it is, and more (API.md "Access control and audit"). */
export const API_ROLES = ['viewer', 'operator', 'admin'] as const;
export const ApiRole = z.enum(API_ROLES);
export type ApiRole = z.infer<typeof ApiRole>;

/** True when a token of role `has` may use a route that needs `needs`. */
export function roleAllows(has: ApiRole, needs: ApiRole): boolean {
  return API_ROLES.indexOf(has) >= API_ROLES.indexOf(needs);
}

/** The console's session cookie. */
export const SESSION_COOKIE = 'ocdn_session';

import { createContext, useContext } from 'react';
import { roleAllows, type Role, type Session } from './api';

export const SessionContext = createContext<Session | null>(null);

/** True when the signed-in token's role allows `need`: pages show a write button only then. */
export function useCan(need: Role): boolean {
  return roleAllows(useContext(SessionContext)?.token.role, need);
}

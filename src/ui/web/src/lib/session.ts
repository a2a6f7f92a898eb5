import { createContext, useContext } from 'react';
import type { UserInfo } from './types';

export interface Session {
  user: UserInfo;
  isAdmin: boolean;
  logout(): Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

/** The logged-in user; pages are only rendered inside a session. */
export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}

import type { LoginResponse } from './types.js';

/**
 * A signed-in user. The token lives only in this object, in memory: not in localStorage, sessionStorage or a
 * cookie, so closing or reloading the tab signs out and no other script on the origin can read it later.
 */
export interface Session {
  readonly token: string;
  readonly username: string;
  readonly role: string;
  readonly scopes: ReadonlySet<string>;
  /** Epoch ms, measured on this machine's clock from `expires_in` (immune to clock skew with the API). */
  readonly expiresAt: number;
}

/** The token's claims, decoded without verification: only for display and for hiding what a role cannot do. */
export function decodeClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (!part) return {};
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function sessionFromLogin(response: LoginResponse, fallbackUsername: string, now = Date.now()): Session {
  const claims = decodeClaims(response.token);
  const scope = typeof response.scope === 'string' ? response.scope : typeof claims.scope === 'string' ? claims.scope : '';
  // The earlier of the server's expires_in and the token's own exp (converted through iat, not our clock).
  let lifetime = Number.isFinite(response.expires_in) ? response.expires_in : 0;
  if (typeof claims.exp === 'number' && typeof claims.iat === 'number') lifetime = Math.min(lifetime || Infinity, claims.exp - claims.iat);
  return {
    token: response.token,
    username: typeof claims.sub === 'string' ? claims.sub : fallbackUsername,
    role: typeof claims.role === 'string' ? claims.role : 'unknown',
    scopes: new Set(scope.split(' ').filter(Boolean)),
    expiresAt: now + Math.max(0, lifetime) * 1000,
  };
}

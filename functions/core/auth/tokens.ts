import { randomUUID } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { z } from 'zod';
import { UnauthorizedError } from '../errors.js';
import { roleSchema, scopes as allScopes, type Role, type Scope } from './roles.js';

/** A key that signs tokens, and the public keys a verifier may meet (current and previous, for rotation). */
export interface SigningKeys {
  current(): Promise<{ kid: string; privateKey: CryptoKey | KeyObject }>;
  jwks(): Promise<{ keys: JWK[] }>;
}

export interface TokenSubject {
  sub: string;
  role: Role;
  scopes: readonly Scope[];
  /** Which kind of principal: a person logging in, or an API key exchanged for a token. */
  principalType: 'user' | 'key';
  plant?: string;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  scope: string;
}

/** Signs RS256 JWTs that API Gateway's JWT authorizer (and the local gateway) accept. */
export class TokenIssuer {
  constructor(
    private readonly keys: SigningKeys,
    private readonly options: { issuer: string; audience: string; now?: () => number },
  ) {}

  async issue(subject: TokenSubject, ttlSeconds: number): Promise<IssuedToken> {
    const { kid, privateKey } = await this.keys.current();
    const nowSeconds = Math.floor((this.options.now?.() ?? Date.now()) / 1000);
    const scope = subject.scopes.join(' ');
    const claims: Record<string, unknown> = { scope, role: subject.role, typ: subject.principalType };
    if (subject.plant) claims.plant = subject.plant;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(subject.sub)
      .setIssuedAt(nowSeconds)
      .setNotBefore(nowSeconds)
      .setExpirationTime(nowSeconds + ttlSeconds)
      .setJti(randomUUID())
      .sign(privateKey);
    return { token, expiresIn: ttlSeconds, scope };
  }
}

/**
 * The verified claims as API Gateway hands them to a function (`requestContext.authorizer.jwt.claims`):
 * every value a string. Parsed at the boundary into a {@link Principal}.
 */
const claimsSchema = z.object({
  sub: z.string().min(1),
  role: roleSchema,
  scope: z.string().default(''),
  typ: z.enum(['user', 'key']).default('user'),
  plant: z.string().optional(),
});

export interface Principal {
  id: string;
  role: Role;
  scopes: ReadonlySet<Scope>;
  type: 'user' | 'key';
  plant?: string;
}

export function principalFromClaims(claims: Record<string, unknown> | undefined): Principal {
  const parsed = claimsSchema.safeParse(claims ?? {});
  if (!parsed.success) throw new UnauthorizedError('Token claims are incomplete');
  const known = new Set<string>(allScopes);
  const scopeSet = new Set(parsed.data.scope.split(' ').filter((s): s is Scope => known.has(s)));
  return {
    id: parsed.data.sub,
    role: parsed.data.role,
    scopes: scopeSet,
    type: parsed.data.typ,
    ...(parsed.data.plant ? { plant: parsed.data.plant } : {}),
  };
}

import { randomUUID } from 'node:crypto';
import { base64url, type JWK } from 'jose';
import * as z from 'zod';
import { UnauthorizedError } from '../errors.js';
import { roleSchema, scopes as allScopes, type Role, type Scope } from './roles.js';

/**
 * The key that signs tokens (RS256), and the public keys a verifier may meet: the current key and the
 * previous one, so tokens signed before a rotation stay valid until they expire. Locally a key file; in AWS
 * a KMS asymmetric key whose private half never leaves KMS (see docs/security.md).
 */
export interface TokenSigner {
  /** The `kid` of the key that {@link sign} uses. */
  keyId(): Promise<string>;
  /** Signs the JWS signing input with RSASSA-PKCS1-v1_5 SHA-256 using the current key. */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
  jwks(): Promise<{ keys: JWK[] }>;
}

export interface TokenSubject {
  sub: string;
  role: Role;
  scopes: readonly Scope[];
  /** Which kind of principal: a person logging in, or an API key exchanged for a token. */
  principalType: 'user' | 'key';
  plant?: string;
  /** For key tokens: the user who owns the key. */
  owner?: string;
  keyId?: string;
  /** Requests per minute for this principal when it differs from the deployment's default. */
  rateLimitPerMinute?: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  scope: string;
}

/** Issues RS256 JWTs that API Gateway's JWT authorizer (and the local gateway) accept. */
export class TokenIssuer {
  constructor(
    private readonly signer: TokenSigner,
    private readonly options: { issuer: string; audience: string; now?: () => number },
  ) {}

  async issue(subject: TokenSubject, ttlSeconds: number): Promise<IssuedToken> {
    const nowSeconds = Math.floor((this.options.now?.() ?? Date.now()) / 1000);
    const scope = subject.scopes.join(' ');
    const payload: Record<string, unknown> = {
      iss: this.options.issuer,
      aud: this.options.audience,
      sub: subject.sub,
      iat: nowSeconds,
      nbf: nowSeconds,
      exp: nowSeconds + ttlSeconds,
      jti: randomUUID(),
      scope,
      role: subject.role,
      typ: subject.principalType,
      ...(subject.plant ? { plant: subject.plant } : {}),
      ...(subject.owner ? { owner: subject.owner } : {}),
      ...(subject.keyId ? { key_id: subject.keyId } : {}),
      ...(subject.rateLimitPerMinute ? { rl: subject.rateLimitPerMinute } : {}),
    };
    // JWS compact serialization (RFC 7515 §7.1); verification is jose's and API Gateway's.
    const header = { alg: 'RS256', typ: 'JWT', kid: await this.signer.keyId() };
    const signingInput = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
    const signature = await this.signer.sign(new TextEncoder().encode(signingInput));
    return { token: `${signingInput}.${base64url.encode(signature)}`, expiresIn: ttlSeconds, scope };
  }
}

/**
 * The verified claims as API Gateway hands them to a function (`requestContext.authorizer.jwt.claims`):
 * every value a string. Parsed at the boundary into a {@link Principal}.
 */
const claimsSchema = z.object({
  sub: z.string().min(1),
  role: roleSchema,
  scope: z.string().optional(),
  /** API Gateway accepts scopes from `scp` too (as a string, or an array it hands over as `[a b]`). */
  scp: z.string().optional(),
  typ: z.enum(['user', 'key']).default('user'),
  plant: z.string().optional(),
  owner: z.string().optional(),
  key_id: z.string().optional(),
  rl: z.coerce.number().int().positive().optional(),
});

export interface Principal {
  /** The token's subject: a username, or `key:<keyId>` for an API key. Rate limits and audit key on it. */
  id: string;
  /** The person: the user, or the key's owner. */
  username: string;
  role: Role;
  scopes: ReadonlySet<Scope>;
  type: 'user' | 'key';
  plant?: string;
  keyId?: string;
  rateLimitPerMinute?: number;
}

export function principalFromClaims(claims: Record<string, unknown> | undefined): Principal {
  const parsed = claimsSchema.safeParse(claims ?? {});
  if (!parsed.success) throw new UnauthorizedError('Token claims are incomplete');
  const known = new Set<string>(allScopes);
  const raw = parsed.data.scope ?? parsed.data.scp?.replace(/^\[|\]$/g, '') ?? '';
  const scopeSet = new Set(raw.split(/[\s,]+/).filter((s): s is Scope => known.has(s)));
  const c = parsed.data;
  if (c.typ === 'key' && (!c.owner || !c.key_id)) throw new UnauthorizedError('Token claims are incomplete');
  return {
    id: c.sub,
    username: c.owner ?? c.sub,
    role: c.role,
    scopes: scopeSet,
    type: c.typ,
    ...(c.plant ? { plant: c.plant } : {}),
    ...(c.key_id ? { keyId: c.key_id } : {}),
    ...(c.rl ? { rateLimitPerMinute: c.rl } : {}),
  };
}

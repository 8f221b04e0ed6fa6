/**
 * The local gateway's JWT authorizer, with API Gateway's checks: RSA only, `kid` required, exact iss and aud,
 * exp/nbf/iat, then the route's scopes. Keys come from the issuer's discovery document and JWKS (or in-process,
 * see {@link JwtAuthorizerOptions.keys}); verified tokens are cached (`verified`).
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { GatewayResponse } from './gateway-response.js';

export interface JwtAuthorizerOptions {
  /** Exact issuer the authorizer accepts; its discovery document names the JWKS. Resolved lazily. */
  issuer: () => string;
  audience: string;
  /** Where the issuer's public keys come from (GatewayOptions.keys). Default: the issuer's discovery document. */
  keys?: () => Promise<JSONWebKeySet>;
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512'];

/** How long a verified token is trusted without re-verifying its signature: the JWKS cache's max age. */
const verifiedTokenTtlMs = 300_000;
const verifiedTokenCacheSize = 10_000;

interface VerifiedToken {
  claims: Record<string, string>;
  scopes: string[];
  /** The issuer it was verified against (the gateway's issuer is resolved lazily). */
  issuer: string;
  /** The token's exp (seconds). */
  exp: number;
  /** Trusted until then (ms): its expiry, at most verifiedTokenTtlMs after verification. */
  until: number;
}

/** API Gateway hands claims to the function as strings (the Lambda-layout test uses it too). */
export function stringifyClaims(payload: JWTPayload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (typeof value === 'string') out[key] = value;
    else if (Array.isArray(value)) out[key] = `[${value.join(' ')}]`;
    else if (typeof value === 'object' && value !== null) out[key] = JSON.stringify(value);
    else out[key] = String(value);
  }
  return out;
}

function tokenScopes(payload: JWTPayload): string[] {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

export class JwtAuthorizer {
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private jwksIssuer: string | undefined;
  /**
   * Tokens that passed the signature, header, issuer and audience checks, by their exact compact string.
   * A client sends the same token on every request until it expires; its RS256 signature need not be
   * verified each time (it was a tenth of the gateway's CPU under load). The time claims are re-checked on
   * every request; an entry lives at most {@link verifiedTokenTtlMs}, the JWKS cache's own age, so a key
   * removed from the JWKS stops being honoured on the same schedule as with jose's key cache alone.
   * Failures are never cached: a forged or tampered token is a different string and is verified in full.
   */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(private readonly options: JwtAuthorizerOptions) {}

  private keySet() {
    const issuer = this.options.issuer();
    const provide = this.options.keys;
    if (provide && !this.jwks) {
      let local: { set: ReturnType<typeof createLocalJWKSet>; loaded: number } | undefined;
      this.jwks = (async (header, token) => {
        // Re-read at most every 5 minutes (as API Gateway caches JWKS), and once at once on an unknown kid.
        const fresh = local && Date.now() - local.loaded < 300_000;
        if (!fresh) local = { set: createLocalJWKSet(await provide()), loaded: Date.now() };
        try {
          return await local!.set(header, token);
        } catch (error) {
          if (!fresh) throw error;
          local = { set: createLocalJWKSet(await provide()), loaded: Date.now() };
          return local.set(header, token);
        }
      }) as ReturnType<typeof createRemoteJWKSet>;
      this.jwksIssuer = issuer;
    }
    if (!this.jwks || this.jwksIssuer !== issuer) {
      // Discovery is fetched lazily, as API Gateway does, from the issuer's own well-known document.
      let jwksUri: Promise<URL> | undefined;
      const resolveUri = () =>
        (jwksUri ??= fetch(`${issuer}/.well-known/openid-configuration`)
          .then((r) => {
            if (!r.ok) throw new Error(`discovery answered ${r.status}`);
            return r.json() as Promise<{ jwks_uri?: string; issuer?: string }>;
          })
          .then((doc) => {
            if (doc.issuer !== issuer || !doc.jwks_uri) throw new Error('discovery document does not match the issuer');
            return new URL(doc.jwks_uri);
          })
          .catch((error: unknown) => {
            jwksUri = undefined;
            throw error;
          }));
      let remote: ReturnType<typeof createRemoteJWKSet> | undefined;
      const lazy = (async (header, token) => {
        remote ??= createRemoteJWKSet(await resolveUri(), { cooldownDuration: 5_000, cacheMaxAge: 300_000 });
        return remote(header, token);
      }) as ReturnType<typeof createRemoteJWKSet>;
      this.jwks = lazy;
      this.jwksIssuer = issuer;
    }
    return this.jwks;
  }

  /** The claims and scopes of a valid token that holds one of `required`; else a 401 or 403 {@link GatewayResponse}. */
  async verify(token: string, required: readonly string[]): Promise<{ claims: Record<string, string>; scopes: string[] }> {
    const issuer = this.options.issuer();
    const now = Date.now();
    const known = this.verified.get(token);
    if (known && known.issuer === issuer && now < known.until) {
      // jose's rule: expired once exp <= now (seconds); nbf and iat were in the past when it was verified.
      if (known.exp <= Math.floor(now / 1000)) {
        this.verified.delete(token);
        throw new GatewayResponse(401, 'Unauthorized');
      }
      if (!required.some((s) => known.scopes.includes(s))) throw new GatewayResponse(403, 'Forbidden');
      // Copies: each event gets its own claims, as from a fresh verification.
      return { claims: { ...known.claims }, scopes: [...known.scopes] };
    }
    let payload: JWTPayload;
    try {
      const protectedHeader = decodeProtectedHeader(token);
      if (!protectedHeader.kid || !RSA_ALGORITHMS.includes(String(protectedHeader.alg))) throw new Error('bad header');
      ({ payload } = await jwtVerify(token, this.keySet(), {
        issuer: this.options.issuer(),
        audience: this.options.audience,
        algorithms: RSA_ALGORITHMS,
        requiredClaims: ['exp'],
      }));
      if (typeof payload.iat === 'number' && payload.iat > Math.floor(Date.now() / 1000)) throw new Error('issued in the future');
    } catch {
      throw new GatewayResponse(401, 'Unauthorized');
    }
    const scopes = tokenScopes(payload);
    const claims = stringifyClaims(payload);
    this.remember(token, { claims: { ...claims }, scopes: [...scopes], issuer, exp: payload.exp!, until: Math.min(payload.exp! * 1000, now + verifiedTokenTtlMs) });
    if (!required.some((s) => scopes.includes(s))) throw new GatewayResponse(403, 'Forbidden');
    return { claims, scopes };
  }

  private remember(token: string, entry: VerifiedToken): void {
    if (this.verified.size >= verifiedTokenCacheSize) {
      // Oldest first (insertion order); expired entries go first when a slot is needed.
      const now = Date.now();
      for (const [key, value] of this.verified) if (value.until <= now) this.verified.delete(key);
      if (this.verified.size >= verifiedTokenCacheSize) this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, entry);
  }
}

import * as z from 'zod';
import { ApiKeyRejectedError, ForbiddenError, InvalidCredentialsError, InvalidRequestError, RateLimitedError, ServiceUnavailableError } from '../errors.js';
import { parseApiKey } from './api-keys.js';
import type { RateLimiter, UserStore } from '../ports.js';
import type { KeyService } from './keys-service.js';
import { dummyPasswordHash, verifyPassword } from './passwords.js';
import { scopes as allScopes, scopesForRole, type Scope } from './roles.js';
import type { IssuedToken, TokenIssuer, TokenSubject } from './tokens.js';

export const loginRequestSchema = z.object({
  username: z.string().min(1).max(128),
  password: z.string().min(1).max(1024),
});
export type LoginRequest = z.infer<typeof loginRequestSchema>;

const scopeParam = z.string().max(512).optional();

/** The OAuth2 token endpoint's body (JSON or form-encoded). */
export const tokenRequestSchema = z.discriminatedUnion('grant_type', [
  z.object({ grant_type: z.literal('password'), username: z.string().min(1).max(128), password: z.string().min(1).max(1024), scope: scopeParam }),
  z.object({
    grant_type: z.literal('client_credentials'),
    client_secret: z.string().min(1).max(256),
    client_id: z.string().max(64).optional(),
    scope: scopeParam,
  }),
]);
export type TokenRequest = z.infer<typeof tokenRequestSchema>;

export interface LoginResponse {
  /** The chapter's field. */
  token: string;
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export interface AuthOptions {
  userTokenTtlSeconds: number;
  keyTokenTtlSeconds: number;
  loginLimitPerUsername: number;
  loginLimitPerSource: number;
}

/**
 * Login and the token endpoint. Password failures give one answer whatever the cause, cost the same
 * work whether or not the user exists, and are throttled per username and per source address. The
 * throttle fails closed: with the counter store down, nobody logs in (503), rather than anyone trying
 * passwords without limit.
 */
export class AuthService {
  constructor(
    private readonly users: UserStore,
    private readonly keys: KeyService,
    private readonly issuer: TokenIssuer,
    private readonly limiter: RateLimiter,
    private readonly options: AuthOptions,
  ) {}

  /** Per-identity (username or key id) and per-source counters; fails closed when the store is down. */
  private async throttle(identity: string, sourceIp: string): Promise<void> {
    let decisions;
    try {
      decisions = await Promise.all([
        this.limiter.take(`login:user:${identity.toLowerCase()}`, this.options.loginLimitPerUsername, 60),
        this.limiter.take(`login:ip:${sourceIp}`, this.options.loginLimitPerSource, 60),
      ]);
    } catch (error) {
      throw new ServiceUnavailableError('Login is unavailable: the rate-limit store cannot be reached', error);
    }
    const denied = decisions.find((d) => !d.allowed);
    if (denied) throw new RateLimitedError(denied.resetSeconds, { 'ratelimit-limit': String(denied.limit), 'ratelimit-remaining': '0', 'ratelimit-reset': String(denied.resetSeconds) });
  }

  private async passwordSubject(username: string, password: string, sourceIp: string): Promise<TokenSubject> {
    await this.throttle(username, sourceIp);
    const user = await this.users.get(username);
    const valid = await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash()));
    if (!user || !valid || !user.active) throw new InvalidCredentialsError();
    return { sub: user.username, role: user.role, scopes: scopesForRole(user.role), principalType: 'user', ...(user.plant ? { plant: user.plant } : {}) };
  }

  async login({ username, password }: LoginRequest, sourceIp: string): Promise<LoginResponse> {
    const issued = await this.issuer.issue(await this.passwordSubject(username, password, sourceIp), this.options.userTokenTtlSeconds);
    return { token: issued.token, access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope: issued.scope };
  }

  async token(request: TokenRequest, sourceIp: string): Promise<TokenResponse> {
    let subject: TokenSubject;
    let ttl: number;
    if (request.grant_type === 'password') {
      subject = await this.passwordSubject(request.username, request.password, sourceIp);
      ttl = this.options.userTokenTtlSeconds;
    } else {
      const keyId = parseApiKey(request.client_secret)?.keyId;
      // Exchanges are throttled like logins (and fail closed the same way) before the key is looked at.
      await this.throttle(`key:${keyId ?? 'malformed'}`, sourceIp);
      if (request.client_id !== undefined && keyId !== undefined && request.client_id !== keyId && request.client_id !== `tw_${keyId}`) {
        throw new ApiKeyRejectedError('KEY_INVALID', 'client_id does not match the key');
      }
      const { record, owner, scopes } = await this.keys.verify(request.client_secret);
      if (scopes.length === 0) throw new ForbiddenError('This API key carries no scope its owner still holds; create a new key');
      subject = {
        sub: `key:${record.keyId}`,
        owner: owner.username,
        keyId: record.keyId,
        role: owner.role,
        scopes,
        principalType: 'key',
        ...(owner.plant ? { plant: owner.plant } : {}),
        ...(record.rateLimitPerMinute ? { rateLimitPerMinute: record.rateLimitPerMinute } : {}),
      };
      ttl = this.options.keyTokenTtlSeconds;
    }
    subject = { ...subject, scopes: narrowScopes(subject.scopes, request.scope) };
    const issued: IssuedToken = await this.issuer.issue(subject, ttl);
    return { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope: issued.scope };
  }
}

/** OAuth2 `scope`: a client may ask for fewer scopes than it holds, never more. */
function narrowScopes(held: readonly Scope[], requested: string | undefined): readonly Scope[] {
  if (!requested?.trim()) return held;
  const wanted = requested.split(/\s+/).filter(Boolean);
  const unknown = wanted.filter((s) => !(allScopes as readonly string[]).includes(s) || !held.includes(s as Scope));
  if (unknown.length > 0) {
    throw new InvalidRequestError(`scope not granted: ${unknown.join(' ')}`, [
      { field: 'scope', rule: 'subset_of_granted', message: `may name only: ${held.join(' ')}` },
    ]);
  }
  return held.filter((s) => wanted.includes(s));
}

import { beforeEach, describe, expect, it } from 'vitest';
import { KeyService } from '../../functions/core/auth/keys-service.js';
import { hashPassword } from '../../functions/core/auth/passwords.js';
import { AuthService } from '../../functions/core/auth/service.js';
import { TokenIssuer, type Principal } from '../../functions/core/auth/tokens.js';
import { AppError } from '../../functions/core/errors.js';
import { FakeClock, InMemoryApiKeyStore, InMemoryRateLimiter, InMemoryTokenSigner, InMemoryUserDirectory } from '../support/fakes.js';

/** The client-credentials rules: throttled and failing closed like logins, client_id checked, no empty tokens. */
describe('client_credentials exchange', () => {
  const clock = new FakeClock(Date.parse('2026-11-25T12:00:30Z'));
  const signer = new InMemoryTokenSigner();
  let users: InMemoryUserDirectory;
  let limiter: InMemoryRateLimiter;
  let keys: KeyService;
  let auth: AuthService;
  let key: string;
  let keyId: string;
  const olga: Principal = { id: 'olga', username: 'olga', role: 'operator', scopes: new Set(['keys:manage']), type: 'user' };

  async function rejection(run: () => Promise<unknown>): Promise<AppError> {
    try {
      await run();
    } catch (error) {
      if (error instanceof AppError) return error;
      throw error;
    }
    throw new Error('expected a rejection');
  }

  beforeEach(async () => {
    // Prepare
    users = new InMemoryUserDirectory();
    await users.create({ username: 'olga', passwordHash: await hashPassword('olga-password'), role: 'operator', active: true, created: clock.iso() });
    limiter = new InMemoryRateLimiter(clock.now);
    keys = new KeyService(new InMemoryApiKeyStore(), users, { rotationGraceSeconds: 60, ownerLimitPerMinute: 600, now: clock.now });
    const issuer = new TokenIssuer(signer, { issuer: 'https://twin.test', audience: 'twin-unit', now: clock.now });
    auth = new AuthService(users, keys, issuer, limiter, { userTokenTtlSeconds: 3600, keyTokenTtlSeconds: 900, loginLimitPerUsername: 3, loginLimitPerSource: 100 });
    const created = await keys.create(olga, { name: 'plc', scopes: ['twin:predict'], expires_in_days: 30 });
    key = created.key;
    keyId = created.id;
  });

  it('accepts a client_id that names the key, with or without the tw_ prefix', async () => {
    for (const clientId of [keyId, `tw_${keyId}`]) {
      const token = await auth.token({ grant_type: 'client_credentials', client_secret: key, client_id: clientId }, '10.0.0.1');
      expect(token.scope).toBe('twin:predict');
    }
  });

  it('refuses a client_id of another key with KEY_INVALID', async () => {
    const error = await rejection(() => auth.token({ grant_type: 'client_credentials', client_secret: key, client_id: 'abcdefghijkl' }, '10.0.0.1'));
    expect(error.code).toBe('KEY_INVALID');
    expect(error.status).toBe(401);
  });

  it('throttles exchanges per key id: the fourth in a window is 429', async () => {
    for (let i = 0; i < 3; i++) await auth.token({ grant_type: 'client_credentials', client_secret: key }, '10.0.0.1');
    const error = await rejection(() => auth.token({ grant_type: 'client_credentials', client_secret: key }, '10.0.0.1'));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.headers?.['retry-after']).toBeDefined();
  });

  it('fails closed (503) when the counter store is down, before looking at the key', async () => {
    limiter.failing = true;
    const error = await rejection(() => auth.token({ grant_type: 'client_credentials', client_secret: key }, '10.0.0.1'));
    expect(error.status).toBe(503);
  });

  it('answers 403 instead of an empty token when the owner no longer holds any of the key scopes', async () => {
    await users.update('olga', { role: 'viewer' }, clock.iso());
    const error = await rejection(() => auth.token({ grant_type: 'client_credentials', client_secret: key }, '10.0.0.1'));
    expect(error.status).toBe(403);
  });
});

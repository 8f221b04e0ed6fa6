import { KMSClient } from '@aws-sdk/client-kms';
import { KeyFileTokenSigner } from '../adapters/key-file-signing-keys.js';
import { KmsTokenSigner } from '../adapters/kms-token-signer.js';
import { AuditService } from '../core/audit/service.js';
import { KeyService } from '../core/auth/keys-service.js';
import { AuthService } from '../core/auth/service.js';
import { TokenIssuer, type TokenSigner } from '../core/auth/tokens.js';
import { UserService } from '../core/auth/users-service.js';
import type { Services } from '../services.js';
import { alertEventRetentionDays, alertState } from './alert-state.js';
import { apiKeyStore, auditLog, rateLimiter, userStore } from './request.js';
import { modelStore } from './model-store.js';

// Identity and its administration: token signing (KMS in AWS, a key file locally), login and the token
// endpoint, API keys, users, audit queries.

/** The token signing keys: KMS (first key signs, all are published), or a local key file. */
export function signer(services: Services): TokenSigner {
  const { config } = services;
  if (config.signing.kind === 'file') return new KeyFileTokenSigner(config.signing.path);
  const kms = new KMSClient({ region: config.region });
  services.onDispose(() => kms.destroy());
  return new KmsTokenSigner(kms, config.signing.keyIds);
}

export function keyService(services: Services): KeyService {
  const { config } = services;
  return new KeyService(services.get(apiKeyStore), services.get(userStore), {
    rotationGraceSeconds: config.keyRotationGraceSeconds,
    ownerLimitPerMinute: config.rateLimitPerMinute,
    // A key's expiry and rotation grace on the services clock, as the resolver judges them (request.ts).
    now: services.now,
  });
}

/** Password login and the OAuth2 token endpoint. */
export function authService(services: Services): AuthService {
  const { config } = services;
  // Wall time, not the services clock: a token's iat and exp are judged by API Gateway's JWT authorizer on AWS's
  // clock (locally by the gateway, which mirrors it), which no test moves.
  const issuer = new TokenIssuer(services.get(signer), { issuer: config.issuer, audience: config.audience, now: Date.now });
  return new AuthService(services.get(userStore), services.get(keyService), issuer, services.get(rateLimiter), {
    userTokenTtlSeconds: config.userTokenTtlSeconds,
    keyTokenTtlSeconds: config.keyTokenTtlSeconds,
    loginLimitPerUsername: config.loginLimitPerUsername,
    loginLimitPerSource: config.loginLimitPerSource,
  });
}

export function userService(services: Services): UserService {
  return new UserService(services.get(userStore), { now: services.now });
}

export function auditQueries(services: Services): AuditService {
  return new AuditService(
    services.get(auditLog),
    {
      now: services.now,
      directory: { users: services.get(userStore), keys: services.get(apiKeyStore) },
      models: services.get(modelStore),
      retention: { auditDays: services.config.auditRetentionDays, alertDays: alertEventRetentionDays },
    },
    services.get(alertState),
  );
}

import { DynamoDbApiKeyStore } from '../adapters/dynamodb-api-key-store.js';
import { DynamoDbAuditLog } from '../adapters/dynamodb-audit-log.js';
import { DynamoDbRateLimiter } from '../adapters/dynamodb-rate-limiter.js';
import { DynamoDbUserStore } from '../adapters/dynamodb-user-store.js';
import { PrincipalResolver } from '../core/auth/principal-state.js';
import { PrincipalRateLimit } from '../core/rate-limit.js';
import { logger } from '../observability.js';
import type { Services } from '../services.js';
import { dynamoDb, sharedWriter } from './clients.js';

// What every HTTP request uses (functions/middleware/http.ts): the principal's current state, its rate
// limit, the audit log; and the stores behind them.

export function userStore(services: Services): DynamoDbUserStore {
  return new DynamoDbUserStore(services.get(dynamoDb), services.config.usersTable);
}

export function apiKeyStore(services: Services): DynamoDbApiKeyStore {
  return new DynamoDbApiKeyStore(services.get(dynamoDb), services.config.apiKeysTable);
}

/** The principal's current state (active, role, plant, key revoked), per request. */
export function principals(services: Services): PrincipalResolver {
  const { config } = services;
  return new PrincipalResolver(services.get(userStore), services.get(apiKeyStore), {
    cacheMs: config.principalCacheSeconds * 1000,
    // The services clock, like rate windows and alerts: the twin's tests move it (TestTwin.clock).
    now: services.now,
    ownerLimitPerMinute: config.rateLimitPerMinute,
  });
}

/** Takes one by one in the store (login's attempts: they fail closed when the store cannot count them). */
export function rateLimiter(services: Services): DynamoDbRateLimiter {
  return new DynamoDbRateLimiter(services.get(dynamoDb), services.config.rateCountersTable, services.now);
}

/** The principals' request limits: reserving ahead where one process serves every request (`rateReserveAhead`). */
export function requestRateLimiter(services: Services): DynamoDbRateLimiter {
  return new DynamoDbRateLimiter(services.get(dynamoDb), services.config.rateCountersTable, services.now, { maxAhead: services.config.rateReserveAhead });
}

export function rateLimit(services: Services): PrincipalRateLimit {
  return new PrincipalRateLimit(services.get(requestRateLimiter), {
    defaultPerMinute: services.config.rateLimitPerMinute,
    onStoreError: (error) => logger.warn('rate-limit store unavailable; request allowed (fail open)', { error: error as Error }),
  });
}

export function auditLog(services: Services): DynamoDbAuditLog {
  const writer = services.get(sharedWriter);
  return new DynamoDbAuditLog(services.get(dynamoDb), services.config.auditTable, { retentionDays: services.config.auditRetentionDays, now: services.now, ...(writer ? { writer } : {}) });
}

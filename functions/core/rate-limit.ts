import type { Principal } from './auth/tokens.js';
import type { RateDecision, RateLimiter } from './ports.js';

export const rateWindowSeconds = 60;

/** The `RateLimit-*` response headers (IETF draft names, as most gateways send them). */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  return {
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(decision.resetSeconds),
  };
}

/**
 * Per-principal limits: one bucket per token subject (a user, or an API key), the key's own limit when it
 * has one, else the deployment default. An API key also takes from its owner's bucket (`p:<owner>`, the
 * owner's limit), so a user's keys share the user's budget and creating keys never multiplies it; the key's
 * bucket is taken first (its limit is the lower one), and when the owner's bucket refuses, the key's take is
 * given back, so every counter holds exactly the requests admitted. If the counter store fails, the request
 * is let through (logged and counted): predictions keep a plant running, and API Gateway's stage throttling
 * still bounds the load. Login fails closed instead (see AuthService).
 */
export class PrincipalRateLimit {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly options: { defaultPerMinute: number; onStoreError?: (error: unknown) => void },
  ) {}

  async take(principal: Principal): Promise<RateDecision | undefined> {
    const ownerLimit = this.options.defaultPerMinute;
    try {
      if (principal.type !== 'key') return await this.limiter.take(`p:${principal.id}`, ownerLimit, rateWindowSeconds);
      const keyBucket = `p:${principal.id}`;
      const own = await this.limiter.take(keyBucket, Math.min(principal.rateLimitPerMinute ?? ownerLimit, ownerLimit), rateWindowSeconds);
      if (!own.allowed) return own;
      const owner = await this.limiter.take(`p:${principal.username}`, ownerLimit, rateWindowSeconds);
      if (!owner.allowed) {
        await this.limiter.refund(keyBucket, own);
        return owner;
      }
      return { ...own, remaining: Math.min(own.remaining, owner.remaining) };
    } catch (error) {
      this.options.onStoreError?.(error);
      return undefined;
    }
  }
}

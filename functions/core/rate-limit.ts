import type { Principal } from './auth/tokens.js';
import { RateLimitedError } from './errors.js';
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
 * still bounds the load. Login fails closed instead (see AuthService). `cost` weighs a take (see charge).
 */
export class PrincipalRateLimit {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly options: { defaultPerMinute: number; onStoreError?: (error: unknown) => void },
  ) {}

  async take(principal: Principal, cost = 1): Promise<RateDecision | undefined> {
    const ownerLimit = this.options.defaultPerMinute;
    try {
      if (principal.type !== 'key') return await this.limiter.take(`p:${principal.id}`, ownerLimit, rateWindowSeconds, cost);
      const keyBucket = `p:${principal.id}`;
      const own = await this.limiter.take(keyBucket, Math.min(principal.rateLimitPerMinute ?? ownerLimit, ownerLimit), rateWindowSeconds, cost);
      if (!own.allowed) return own;
      const owner = await this.limiter.take(`p:${principal.username}`, ownerLimit, rateWindowSeconds, cost);
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

  /**
   * Charges `units` more against the principal's window (a request already took one at the gateway), for
   * requests that cost more than one: sweeps, optimizations, model-agnostic explanations (see
   * {@link rowUnits}). Refused: RATE_LIMITED. Store down: allowed, as take.
   */
  async charge(principal: Principal, units: number): Promise<void> {
    if (units <= 0) return;
    // The same buckets as take (a key's and its owner's), weighted; undefined: the store is down (allowed).
    const decision = await this.take(principal, units);
    if (decision && !decision.allowed) throw new RateLimitedError(decision.resetSeconds);
  }
}

/**
 * Rows evaluated, in rate-limit units: one per 100 rows of a model of up to 100 members (what one /twin/batch
 * request of the reference model costs); a wider ensemble's row counts once per started 100 members, so a
 * plant's 10,000-member model cannot make one unit cost the server a hundred times the work.
 */
export function rowUnits(rows: number, members = 1): number {
  return Math.ceil((rows * Math.max(1, Math.ceil(members / 100))) / 100);
}

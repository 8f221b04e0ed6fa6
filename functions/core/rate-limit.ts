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
 * has one, else the deployment default. If the counter store fails, the request is let through (logged and
 * counted): predictions keep a plant running, and API Gateway's stage throttling still bounds the load.
 * Login fails closed instead (see AuthService).
 */
export class PrincipalRateLimit {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly options: { defaultPerMinute: number; onStoreError?: (error: unknown) => void },
  ) {}

  async take(principal: Principal): Promise<RateDecision | undefined> {
    const limit = principal.rateLimitPerMinute ?? this.options.defaultPerMinute;
    try {
      return await this.limiter.take(`p:${principal.id}`, limit, rateWindowSeconds);
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
    const limit = principal.rateLimitPerMinute ?? this.options.defaultPerMinute;
    let decision: RateDecision;
    try {
      decision = await this.limiter.take(`p:${principal.id}`, limit, rateWindowSeconds, units);
    } catch (error) {
      this.options.onStoreError?.(error);
      return;
    }
    if (!decision.allowed) throw new RateLimitedError(decision.resetSeconds);
  }
}

/** Rows evaluated, in rate-limit units: one per 100 rows (what the same rows cost through /twin/batch). */
export function rowUnits(rows: number): number {
  return Math.ceil(rows / 100);
}

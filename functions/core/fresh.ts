/**
 * Whether a cache entry that ends at `until`, set `ttlMs` before it, still holds at `now`. A clock that stepped
 * back (NTP, a test's clock) must not stretch the bound: an entry from the clock's future is as stale as one
 * past its end (as the principal cache treats them: functions/core/auth/principal-state.ts).
 */
export function isFresh(now: number, until: number, ttlMs: number): boolean {
  return now < until && now >= until - ttlMs;
}

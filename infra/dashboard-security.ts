/**
 * The dashboard's browser security policy, in one place: the local twin's static handler sends these headers
 * and the DashboardStack's CloudFront response-headers policy is built from the same values, so the page runs
 * under the same rules on a laptop as behind CloudFront.
 *
 * The bundle has no inline script or style and never builds HTML from strings (it uses DOM APIs), so the
 * policy can forbid inline code outright and require Trusted Types for every script sink.
 */

export interface ContentSecurityPolicyOptions {
  /**
   * Extra origins the page may call with fetch (the API when it is not same-origin: the HTTP API's
   * `https://<id>.execute-api.<region>.amazonaws.com` or its custom domain). May hold CDK tokens.
   * @default none (same origin only)
   */
  connectSrc?: readonly string[];
}

/** `default-src 'none'` and only what the page uses: its own scripts, styles, icon and API calls. */
export function contentSecurityPolicy(options: ContentSecurityPolicyOptions = {}): string {
  const connect = ["'self'", ...(options.connectSrc ?? [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "require-trusted-types-for 'script'",
  ].join('; ');
}

/** Headers besides the CSP. `X-Frame-Options` repeats `frame-ancestors 'none'` for older browsers. */
export const dashboardSecurityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
} as const;

/** Hashed bundle files never change; index.html and config.json must be revalidated on every load. */
export const dashboardCacheControl = {
  immutable: 'public, max-age=31536000, immutable',
  revalidate: 'no-cache',
} as const;

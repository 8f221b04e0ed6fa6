/** Errors the dashboard shows, parsed from the API's envelope (`{ error: { code, message, requestId }, message }`). */

export interface FieldIssue {
  field: string;
  rule: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    /** For 429 (and 503 when the API says): when the request may be retried. */
    readonly retryAfterSeconds: number | undefined,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The request never got an HTTP answer: the API is unreachable (offline, DNS, CORS refusal, TLS). */
export class NetworkError extends Error {
  constructor(readonly url: string, cause?: unknown) {
    super(`Cannot reach the API at ${url}`, { cause });
    this.name = 'NetworkError';
  }
}

/** `Retry-After` is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

const statusCodes: Record<number, string> = {
  400: 'INVALID_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  503: 'SERVICE_UNAVAILABLE',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Builds an {@link ApiError} from a non-2xx answer. Reads the envelope when there is one, API Gateway's own
 * `{message}` otherwise. The retry time comes from `Retry-After` or, when a cross-origin response hides that
 * header, from the body's `retry_after_seconds`.
 */
export function apiErrorFrom(status: number, headers: { get(name: string): string | null }, bodyText: string, now = Date.now()): ApiError {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  const envelope = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const code = typeof envelope?.code === 'string' ? envelope.code : (statusCodes[status] ?? `HTTP_${status}`);
  const message =
    (typeof envelope?.message === 'string' && envelope.message) ||
    (isRecord(body) && typeof body.message === 'string' && body.message) ||
    (isRecord(body) && typeof body.error === 'string' && body.error) ||
    `The API answered ${status}`;
  const requestId = (typeof envelope?.requestId === 'string' ? envelope.requestId : undefined) ?? headers.get('x-request-id') ?? undefined;
  const bodyRetry = typeof envelope?.retry_after_seconds === 'number' ? envelope.retry_after_seconds : undefined;
  const retryAfterSeconds = parseRetryAfter(headers.get('retry-after'), now) ?? bodyRetry;
  const issues = Array.isArray(envelope?.issues)
    ? envelope.issues.filter((i): i is FieldIssue => isRecord(i) && typeof i.field === 'string' && typeof i.message === 'string')
    : [];
  return new ApiError(status, code, message, requestId, retryAfterSeconds, issues);
}

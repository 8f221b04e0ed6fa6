/** The SDK's error: {@link TwinApiError}, read from the API's error bodies (client/sdk.ts re-exports it). */
// ---------------------------------------------------------------------------------------------------------
// Errors

/** Codes of failures that never reached an answer. */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'ABORTED' | 'INVALID_RESPONSE' | 'NOT_LOGGED_IN';

export interface FieldIssue {
  field: string;
  rule: string;
  message: string;
}

/** A failed call: the API's error code (or a {@link ClientErrorCode}), HTTP status (0 without an answer), request id. */
export class TwinApiError extends Error {
  override readonly name = 'TwinApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly requestId: string | undefined,
    readonly details: { issues?: FieldIssue[]; retryAfterSeconds?: number; body?: unknown; method?: string; path?: string; attempts?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get issues(): FieldIssue[] {
    return this.details.issues ?? [];
  }

  get retryAfterSeconds(): number | undefined {
    return this.details.retryAfterSeconds;
  }
}

const gatewayCodes: Record<number, string> = {
  400: 'INVALID_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

/** Reads our envelope, the Open Inference Protocol's `{error: string, code}`, or the gateway's `{message}`. */
export function errorFrom(status: number, body: unknown, headers: Headers, method: string, path: string, attempts: number): TwinApiError {
  const requestId = headers.get('x-request-id') ?? headers.get('apigw-requestid') ?? undefined;
  const retryAfter = parseRetryAfter(headers.get('retry-after'));
  let code = gatewayCodes[status] ?? (status >= 500 ? 'INTERNAL' : 'HTTP_ERROR');
  let message = `HTTP ${status}`;
  let issues: FieldIssue[] | undefined;
  let id = requestId;
  if (typeof body === 'object' && body !== null) {
    const b = body as { error?: unknown; message?: unknown; code?: unknown; requestId?: unknown; issues?: unknown };
    if (typeof b.error === 'object' && b.error !== null) {
      const e = b.error as { code?: unknown; message?: unknown; requestId?: unknown; issues?: unknown };
      if (typeof e.code === 'string') code = e.code;
      if (typeof e.message === 'string') message = e.message;
      if (typeof e.requestId === 'string') id = e.requestId;
      if (Array.isArray(e.issues)) issues = e.issues as FieldIssue[];
    } else if (typeof b.error === 'string') {
      message = b.error;
      if (typeof b.code === 'string') code = b.code;
      if (typeof b.requestId === 'string') id = b.requestId;
      if (Array.isArray(b.issues)) issues = b.issues as FieldIssue[];
    } else if (typeof b.message === 'string') {
      message = b.message;
    }
  } else if (typeof body === 'string' && body) {
    message = body.slice(0, 200);
  }
  return new TwinApiError(code, message, status, id, {
    ...(issues ? { issues } : {}),
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
    body,
    method,
    path,
    attempts,
  });
}

/** Retry-After: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * What every edge sync command shares: {@link EdgeSyncError}, the connection to a Twinserve and one API call
 * (bearer token, JSON, the answer checked against a zod schema, 429s retried).
 */
import * as z from 'zod';

export type EdgeSyncErrorCode =
  /** A bad argument (since, name, version, chunk size). */
  | 'INVALID_ARGUMENT'
  /** The server answered an error status. */
  | 'HTTP'
  /** The server answered 2xx with a body of the wrong shape. */
  | 'INVALID_RESPONSE'
  /** A downloaded package fails its checks (manifest schema, digest, name or version). */
  | 'PACKAGE_INVALID'
  /** A different package already sits where the pulled one would go. */
  | 'PACKAGE_CONFLICT'
  /** An export file line is not what `exportAudit` writes. */
  | 'INVALID_FILE';

export class EdgeSyncError extends Error {
  override readonly name = 'EdgeSyncError';
  readonly code: EdgeSyncErrorCode;
  /** The HTTP status, for `HTTP`. */
  readonly status: number | undefined;

  constructor(code: EdgeSyncErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
  }
}

/** What the sync functions need of `fetch` (injectable for tests and custom TLS agents). */
export type FetchLike = (input: URL, init: RequestInit) => Promise<Response>;

export interface Connection {
  /** Base URL of a running Twinserve, cloud or local: `https://twin.example.com`, `http://127.0.0.1:3000`. */
  url: string;
  /** A bearer token (`POST /api/v1/auth/login` or the client-credentials exchange). */
  token: string;
  fetch?: FetchLike;
}

const maxRateLimitRetries = 5;

// ---------------------------------------------------------------------------------------------------------
// HTTP

function endpoint(base: string, path: string): URL {
  let root: URL;
  try {
    root = new URL(base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new EdgeSyncError('INVALID_ARGUMENT', `not a URL: ${base}`);
  }
  if (root.protocol !== 'https:' && root.protocol !== 'http:') throw new EdgeSyncError('INVALID_ARGUMENT', `not an http(s) URL: ${base}`);
  // Relative to the base, so a base with a path prefix (a proxy's /twin/) keeps it.
  return new URL(path.replace(/^\//, ''), root);
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof body.error === 'object' && typeof body.error?.message === 'string') return body.error.message;
    if (typeof body.message === 'string') return body.message;
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 200) || '(empty body)';
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * One API call: bearer token, JSON in and out, the response checked against `schema`. A 429 is retried
 * after its Retry-After (at most 60 s, at most 5 times): every call here is safe to repeat (GETs, and the
 * import is idempotent).
 */
export async function call<T>(connection: Connection, method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
  const url = endpoint(connection.url, path);
  const doFetch: FetchLike = connection.fetch ?? ((input, init) => fetch(input, init));
  const init: RequestInit = {
    method,
    headers: {
      authorization: `Bearer ${connection.token}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await doFetch(url, init);
    } catch (error) {
      // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate error) is its cause.
      const reason = (error as Error & { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new EdgeSyncError('HTTP', `${method} ${url.origin}${url.pathname} failed: ${reason}`, { cause: error });
    }
    const text = await response.text();
    if (response.status === 429 && attempt < maxRateLimitRetries) {
      const retryAfter = Number(response.headers.get('retry-after') ?? 'missing');
      await sleep(Math.min(60, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : 1) * 1000);
      continue;
    }
    if (!response.ok) {
      throw new EdgeSyncError('HTTP', `${method} ${url.pathname} answered ${response.status}: ${errorMessage(text)}`, { status: response.status });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new EdgeSyncError('INVALID_RESPONSE', `${method} ${url.pathname} answered ${response.status} with a body that is not JSON`, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new EdgeSyncError('INVALID_RESPONSE', `${method} ${url.pathname}: unexpected response (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`);
    }
    return parsed.data;
  }
}

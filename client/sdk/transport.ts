/**
 * The SDK's transport: one request with the retry policy (429 after Retry-After; 5xx and network failures of
 * idempotent calls with jittered backoff), each attempt's timeout, the token and its renewal, and the typed
 * `call` every route method of {@link TwinClient} (client/sdk/twin-client.ts) is built on.
 */
import { errorFrom, TwinApiError } from './errors.js';
import type { BodyOf, ParamsOf, QueryOf, ResponseOf, RouteKey } from './route-types.js';

// ---------------------------------------------------------------------------------------------------------
// The client's options and the request helpers

export interface TwinClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:3000` or the API Gateway URL. */
  baseUrl: string;
  /** A token you already hold (not renewed: without credentials the client cannot get another). */
  token?: string;
  /** An API key: exchanged for a token (client credentials), again before the token expires. */
  apiKey?: string;
  /** A user's credentials: logged in, again before the token expires. */
  username?: string;
  password?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Per attempt. @default 30000 */
  timeoutMs?: number;
  /** Retries after the first attempt (429, and 5xx/network failures of idempotent calls). @default 3 */
  retries?: number;
  /** Base of the exponential backoff. @default 250 */
  backoffMs?: number;
  /** The longest single wait, including a server's Retry-After (longer: the error is thrown). @default 20000 */
  maxBackoffMs?: number;
  /** Renew the token when it expires within this many seconds. @default 60 */
  refreshMarginSeconds?: number;
  /** Called before each retry. */
  onRetry?: (info: { method: string; path: string; attempt: number; delayMs: number; status: number; code: string }) => void;
  /** Extra headers on every request (e.g. a user agent in Node). */
  headers?: Record<string, string>;
  /** Tests: a clock, a random source and a sleep. */
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Retry 5xx and network failures (defaults per route: reads, predictions and idempotent writes do). */
  idempotent?: boolean;
  /** Send no token even when logged in. */
  anonymous?: boolean;
  /** The body is sent as `application/x-www-form-urlencoded`. */
  form?: boolean;
}

export interface TokenState {
  token: string;
  /** Epoch ms; undefined when unknown (a token passed in). */
  expiresAt: number | undefined;
  scope: string | undefined;
}

type Credentials = { kind: 'password'; username: string; password: string } | { kind: 'apiKey'; key: string; scope?: string };

/** Writes that are safe to repeat: the same call twice has the effect of one. */
const idempotentWrites: ReadonlySet<string> = new Set([
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/token',
  'POST /api/v1/twin/predict',
  'POST /api/v1/twin/batch',
  'POST /predict',
  'POST /v2/models/{name}/infer',
  'POST /v2/models/{name}/versions/{version}/infer',
  'POST /api/v1/models/{name}/versions',
  'POST /api/v1/models/{name}/activate',
  'PUT /api/v1/models/{name}/routing',
  'PATCH /api/v1/users/{username}',
  'DELETE /api/v1/keys/{id}',
  'POST /api/v1/audit/import',
]);

function expand(template: string, params: Record<string, string> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new TypeError(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(value);
  });
}

function queryString(query: Record<string, unknown> | undefined): string {
  const entries = Object.entries(query ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}` : '';
}

/** Tokens and requests of a {@link TwinClient}; the route methods are TwinClient's own. */
export class TwinTransport {
  readonly baseUrl: string;
  private tokenState: TokenState | undefined;
  private credentials: Credentials | undefined;
  private refreshing: Promise<TokenState> | undefined;
  protected readonly fetcher: typeof fetch;

  constructor(private readonly options: TwinClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('TwinClient needs fetch (Node 18+ or a browser), or options.fetch');
    this.fetcher = f.bind(globalThis);
    if (options.token) this.tokenState = { token: options.token, expiresAt: undefined, scope: undefined };
    if (options.apiKey) this.credentials = { kind: 'apiKey', key: options.apiKey };
    else if (options.username && options.password) this.credentials = { kind: 'password', username: options.username, password: options.password };
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.options.sleep) return this.options.sleep(ms);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new TwinApiError('ABORTED', 'aborted', 0, undefined));
      });
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Tokens

  /** The current token, its expiry and scopes (undefined before a login). */
  get token(): TokenState | undefined {
    return this.tokenState;
  }

  /** Use a token you already have; `expiresAt` in epoch ms when you know it. */
  setToken(token: string, expiresAt?: number): void {
    this.tokenState = { token, expiresAt, scope: undefined };
  }

  /** Forgets the token and any credentials held for renewal. */
  logout(): void {
    this.tokenState = undefined;
    this.credentials = undefined;
  }

  /**
   * Logs in with a password (POST /api/v1/auth/login). The credentials are kept in memory to renew the
   * token before it expires; pass `{ remember: false }` to drop them (the client then stops at expiry).
   */
  async login(username: string, password: string, options: { remember?: boolean } = {}): Promise<TokenState> {
    const credentials: Credentials = { kind: 'password', username, password };
    const state = await this.obtain(credentials);
    this.credentials = options.remember === false ? undefined : credentials;
    return state;
  }

  /** Exchanges an API key for a token (OAuth2 client credentials); renewed before expiry. `scope` narrows it. */
  async loginWithApiKey(key: string, options: { scope?: string; remember?: boolean } = {}): Promise<TokenState> {
    const credentials: Credentials = { kind: 'apiKey', key, ...(options.scope ? { scope: options.scope } : {}) };
    const state = await this.obtain(credentials);
    this.credentials = options.remember === false ? undefined : credentials;
    return state;
  }

  private async obtain(credentials: Credentials): Promise<TokenState> {
    const issuedAt = this.now();
    const res =
      credentials.kind === 'password'
        ? await this.call('POST /api/v1/auth/login', { body: { username: credentials.username, password: credentials.password } }, { anonymous: true })
        : await this.call(
            'POST /api/v1/auth/token',
            { body: { grant_type: 'client_credentials', client_secret: credentials.key, ...(credentials.scope ? { scope: credentials.scope } : {}) } },
            { anonymous: true },
          );
    this.tokenState = { token: res.access_token, expiresAt: issuedAt + res.expires_in * 1000, scope: res.scope };
    return this.tokenState;
  }

  /** A valid token: renewed first when it expires within the margin and credentials are held. */
  private async currentToken(force = false): Promise<string | undefined> {
    const state = this.tokenState;
    const margin = (this.options.refreshMarginSeconds ?? 60) * 1000;
    const stale = force || !state || (state.expiresAt !== undefined && state.expiresAt - margin <= this.now());
    if (stale && this.credentials) {
      this.refreshing ??= this.obtain(this.credentials).finally(() => {
        this.refreshing = undefined;
      });
      return (await this.refreshing).token;
    }
    return state?.token;
  }

  // -------------------------------------------------------------------------------------------------------
  // Any route, typed

  /**
   * Calls route `key` (a key of the route table, e.g. `'POST /api/v1/keys'`) and returns its typed answer.
   * The convenience methods below are built on it.
   */
  async call<K extends RouteKey>(
    key: K,
    input: { params?: ParamsOf<K>; query?: QueryOf<K>; body?: BodyOf<K> } = {},
    options: CallOptions = {},
  ): Promise<ResponseOf<K>> {
    const [method, template] = key.split(' ') as [string, string];
    const path = expand(template, input.params as Record<string, string> | undefined) + queryString(input.query as Record<string, unknown> | undefined);
    const idempotent = options.idempotent ?? (method === 'GET' || idempotentWrites.has(key));
    return (await this.send(method, path, input.body, { ...options, idempotent })) as ResponseOf<K>;
  }

  /** One request with the retry policy. Exposed for routes outside the contracts (none today). */
  async send(method: string, path: string, body: unknown, options: CallOptions & { idempotent: boolean }): Promise<unknown> {
    const retries = this.options.retries ?? 3;
    const base = this.options.backoffMs ?? 250;
    const cap = this.options.maxBackoffMs ?? 20_000;
    let renewedAfter401 = false;
    for (let attempt = 0; ; attempt++) {
      const token = options.anonymous ? undefined : await this.currentToken();
      let failure: TwinApiError;
      try {
        return await this.attempt(method, path, body, token, options, attempt + 1);
      } catch (error) {
        if (!(error instanceof TwinApiError)) throw error;
        failure = error;
      }
      // An expired or revoked token: renew once with the held credentials, then try again.
      if (failure.status === 401 && token && this.credentials && !renewedAfter401) {
        renewedAfter401 = true;
        await this.currentToken(true);
        attempt--;
        continue;
      }
      const retriable = failure.status === 429 || (options.idempotent && (failure.status >= 500 || failure.code === 'NETWORK_ERROR' || failure.code === 'TIMEOUT'));
      if (!retriable || attempt >= retries) throw failure;
      let delay = Math.round((this.options.random?.() ?? Math.random()) * Math.min(cap, base * 2 ** attempt));
      if (failure.status === 429 && failure.retryAfterSeconds !== undefined) {
        // The server says when; waiting longer than the cap would hang a caller: give up instead.
        if (failure.retryAfterSeconds * 1000 > cap) throw failure;
        delay = failure.retryAfterSeconds * 1000 + Math.round((this.options.random?.() ?? Math.random()) * base);
      }
      this.options.onRetry?.({ method, path, attempt: attempt + 1, delayMs: delay, status: failure.status, code: failure.code });
      await this.sleep(delay, options.signal);
    }
  }

  private async attempt(method: string, path: string, body: unknown, token: string | undefined, options: CallOptions, attempts: number): Promise<unknown> {
    const controller = new AbortController();
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort);
    const headers: Record<string, string> = { accept: 'application/json', ...this.options.headers };
    let payload: string | undefined;
    if (body !== undefined) {
      if (options.form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        payload = new URLSearchParams(Object.entries(body as Record<string, unknown>).map(([k, v]): [string, string] => [k, String(v)])).toString();
      } else {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body);
      }
    }
    if (token) headers.authorization = `Bearer ${token}`;
    let response: Response;
    let text: string;
    try {
      response = await this.fetcher(`${this.baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}), signal: controller.signal });
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw new TwinApiError('ABORTED', `${method} ${path}: aborted`, 0, undefined, { method, path, attempts }, { cause: error });
      if (timedOut) throw new TwinApiError('TIMEOUT', `${method} ${path}: no answer within ${timeoutMs} ms`, 0, undefined, { method, path, attempts }, { cause: error });
      throw new TwinApiError('NETWORK_ERROR', `${method} ${path}: ${(error as Error).message}`, 0, undefined, { method, path, attempts }, { cause: error });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    const type = response.headers.get('content-type') ?? '';
    let parsed: unknown = text;
    if (/json/i.test(type) && text) {
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw new TwinApiError('INVALID_RESPONSE', `${method} ${path}: the answer is not JSON`, response.status, response.headers.get('x-request-id') ?? undefined, { method, path, attempts }, { cause: error });
      }
    }
    if (!response.ok) throw errorFrom(response.status, parsed, response.headers, method, path, attempts);
    return parsed;
  }
}

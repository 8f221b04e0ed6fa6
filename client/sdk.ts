/**
 * The Twinserve SDK: a typed client for every route, in Node 20+ and the browser (it needs only `fetch`,
 * `AbortController` and timers, and imports nothing at run time). Request and response types are generated
 * from the zod schemas the handlers validate with (functions/contracts.ts → api-types.ts, checked by a
 * test), so the client cannot drift from the API either. Built as the package `@twinserve/client`.
 *
 * - Log in with a password or an API key; the token is renewed before it expires (and once after a 401).
 * - 429s are retried after Retry-After; 5xx and network failures of idempotent calls with jittered
 *   exponential backoff; both bounded (retries, and the longest wait).
 * - Each attempt has a timeout. Failures are {@link TwinApiError}s with code, status and request id.
 * - `batch` takes any number of rows and sends them in chunks of 100.
 */
import type { ApiRoutes } from './api-types.js';

// ---------------------------------------------------------------------------------------------------------
// Types of every route, generated from the contracts into plain types (api-types.ts), so the built package
// needs neither zod nor the server's code, at run time or for its .d.ts.

/** A key of the route table, e.g. `'POST /api/v1/keys'`. */
export type RouteKey = keyof ApiRoutes;
/** What route `K` answers on success. */
export type ResponseOf<K extends RouteKey> = ApiRoutes[K]['response'];
/** The body route `K` takes (the validator's input type). */
export type BodyOf<K extends RouteKey> = ApiRoutes[K]['body'];
/** The query route `K` takes. */
export type QueryOf<K extends RouteKey> = ApiRoutes[K]['query'];
type PathParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | PathParamNames<Rest> : never;
/** The path parameters of route `K` (`{name}` in `/api/v1/models/{name}/versions`). */
export type ParamsOf<K extends RouteKey> = K extends `${string} ${infer P}` ? ([PathParamNames<P>] extends [never] ? undefined : Record<PathParamNames<P>, string>) : undefined;
export type { ApiRoutes };

export type FeatureRow = Record<string, number>;
export type PredictResponse = ResponseOf<'POST /api/v1/twin/predict'>;
export type BatchResponse = ResponseOf<'POST /api/v1/twin/batch'>;
export type StatusResponse = ResponseOf<'GET /api/v1/twin/status'>;
export type ModelInfo = ResponseOf<'GET /model/info'>;
export type MetricsResponse = ResponseOf<'GET /metrics'>;
export type HealthResponse = ResponseOf<'GET /health'>;
export type KeyView = ResponseOf<'GET /api/v1/keys'>['keys'][number];
export type KeyWithSecret = ResponseOf<'POST /api/v1/keys'>;
export type CreateKeyRequest = BodyOf<'POST /api/v1/keys'>;
export type UserView = ResponseOf<'POST /api/v1/users'>;
export type CreateUserRequest = BodyOf<'POST /api/v1/users'>;
export type UpdateUserRequest = BodyOf<'PATCH /api/v1/users/{username}'>;
export type AuditQuery = NonNullable<QueryOf<'GET /api/v1/audit'>>;
export type AuditResponse = ResponseOf<'GET /api/v1/audit'>;
export type AuditRecord = AuditResponse['items'][number];
export type AlertsResponse = ResponseOf<'GET /api/v1/alerts'>;
export type AlertEvent = AlertsResponse['alerts'][number];
export type ModelList = ResponseOf<'GET /api/v1/models'>;
export type ModelVersions = ResponseOf<'GET /api/v1/models/{name}/versions'>;
export type PublishRequest = BodyOf<'POST /api/v1/models/{name}/versions'>;
export type PublishResponse = ResponseOf<'POST /api/v1/models/{name}/versions'>;
export type RoutingRequest = BodyOf<'PUT /api/v1/models/{name}/routing'>;
export type RoutingResponse = ResponseOf<'PUT /api/v1/models/{name}/routing'>;
export type ModelStats = ResponseOf<'GET /api/v1/models/{name}/stats'>;
export type InferRequest = BodyOf<'POST /v2/models/{name}/infer'>;
export type InferResponse = ResponseOf<'POST /v2/models/{name}/infer'>;
export type ModelMetadata = ResponseOf<'GET /v2/models/{name}'>;
export type FeedbackRequest = BodyOf<'POST /api/v1/models/{name}/feedback'>;
export type FeedbackObservation = FeedbackRequest['observations'][number];
export type FeedbackResponse = ResponseOf<'POST /api/v1/models/{name}/feedback'>;
export type QualityResponse = ResponseOf<'GET /api/v1/models/{name}/quality'>;
export type CalibrationRequest = BodyOf<'PUT /api/v1/models/{name}/versions/{version}/calibration'>;
export type CalibrationResponse = ResponseOf<'PUT /api/v1/models/{name}/versions/{version}/calibration'>;
/** The most observations one feedback call takes. */
export const maxFeedbackObservations = 1000;
export type ExplainResponse = ResponseOf<'POST /api/v1/models/{name}/explain'>;
export type SweepRequest = BodyOf<'POST /api/v1/models/{name}/sweep'>;
export type SweepResponse = ResponseOf<'POST /api/v1/models/{name}/sweep'>;
export type OptimizeRequest = BodyOf<'POST /api/v1/models/{name}/optimize'>;
export type OptimizeResponse = ResponseOf<'POST /api/v1/models/{name}/optimize'>;

/** A row's result in {@link TwinClient.batch}: `index` is its position in the list you passed. */
export type BatchRowResult = BatchResponse['results'][number];
export type BatchRowError = BatchResponse['errors'][number];

export interface BatchAllResponse {
  total: number;
  successful: number;
  failed: number;
  results: BatchRowResult[];
  errors: BatchRowError[];
  /** Requests sent (chunks of at most {@link maxBatchRows}). */
  chunks: number;
  /** Every model version that answered (more than one under an A/B split). */
  model_versions: string[];
  inference_time_ms: number;
}

/** The API's batch limit: `batch` splits longer lists. */
export const maxBatchRows = 100;

/** Which model answers: default (none), a model by name, or one version of it. */
export interface ModelChoice {
  model?: string;
  version?: string;
}

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
function errorFrom(status: number, body: unknown, headers: Headers, method: string, path: string, attempts: number): TwinApiError {
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

// ---------------------------------------------------------------------------------------------------------
// The client

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

/** model.onnx up to this size is published inline (base64: 4 MiB in a JSON body); larger goes through a presigned S3 upload. */
export const inlinePublishMaxBytes = 3 * 1024 * 1024;

/** base64 of bytes with `btoa` (Node 16+ and browsers). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Bytes of base64 with `atob`. */
export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class TwinClient {
  readonly baseUrl: string;
  private tokenState: TokenState | undefined;
  private credentials: Credentials | undefined;
  private refreshing: Promise<TokenState> | undefined;
  private readonly fetcher: typeof fetch;

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

  // -------------------------------------------------------------------------------------------------------
  // The twin

  health(): Promise<HealthResponse> {
    return this.call('GET /health', {}, { anonymous: true });
  }

  /**
   * One prediction with its interval: with `model`, by that model (`/api/v1/models/{name}/predict`; with
   * `version` too, exactly that version); without, by the deployment's (or your plant's) default model.
   * With `explain`, also its per-feature contributions (`explanation`).
   */
  predict(row: FeatureRow, options: CallOptions & ModelChoice & { explain?: boolean } = {}): Promise<PredictResponse> {
    const { explain, model, version, ...call } = options;
    if (version && !model) throw new TypeError('predict: version needs model');
    // `explain` rides beside the features in the body (the route's documented flag).
    const body = (explain ? { ...row, explain: true } : row) as FeatureRow;
    if (model && version) return this.call('POST /api/v1/models/{name}/versions/{version}/predict', { params: { name: model, version }, body }, call);
    if (model) return this.call('POST /api/v1/models/{name}/predict', { params: { name: model }, body }, call);
    return this.call('POST /api/v1/twin/predict', { body }, call);
  }

  /** Per-feature contributions (Shapley values; exact TreeSHAP for tree ensembles) for 1..100 rows of `model`. */
  explain(model: string, rows: FeatureRow[], options: CallOptions & { seed?: number } = {}): Promise<ExplainResponse> {
    const { seed, ...call } = options;
    return this.call('POST /api/v1/models/{name}/explain', { params: { name: model }, body: { inputs: rows, ...(seed === undefined ? {} : { seed }) } }, call);
  }

  /** The prediction and interval over a grid of one or two features (up to 100 × 100), the others fixed. */
  sweep(model: string, request: SweepRequest, options?: CallOptions): Promise<SweepResponse> {
    return this.call('POST /api/v1/models/{name}/sweep', { params: { name: model }, body: request }, options);
  }

  /** The best setpoints for the prediction or an interval bound, under constraints (docs/insight.md). */
  optimize(model: string, request: OptimizeRequest, options?: CallOptions): Promise<OptimizeResponse> {
    return this.call('POST /api/v1/models/{name}/optimize', { params: { name: model }, body: request }, options);
  }

  /**
   * Predictions for any number of rows: sent in chunks of {@link maxBatchRows} (one inference run each),
   * `concurrency` chunks at a time. Invalid rows are reported in `errors` (with their index in `rows`),
   * never dropped silently. `indexOffset` shifts the indexes (for callers streaming a long file).
   */
  async batch(
    rows: readonly unknown[],
    options: CallOptions & { model?: string; chunkSize?: number; concurrency?: number; indexOffset?: number; onProgress?: (done: { rows: number; total: number; failed: number }) => void } = {},
  ): Promise<BatchAllResponse> {
    const send = (inputs: FeatureRow[]): Promise<BatchResponse> =>
      options.model
        ? this.call('POST /api/v1/models/{name}/batch', { params: { name: options.model }, body: { inputs } }, options)
        : this.call('POST /api/v1/twin/batch', { body: { inputs } }, options);
    const size = Math.min(maxBatchRows, Math.max(1, options.chunkSize ?? maxBatchRows));
    const offset = options.indexOffset ?? 0;
    const chunks: (readonly unknown[])[] = [];
    for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
    const answers: BatchResponse[] = new Array(chunks.length);
    let next = 0;
    let done = 0;
    let failed = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const i = next++;
        const answer = await send(chunks[i] as FeatureRow[]);
        answers[i] = answer;
        done += chunks[i]!.length;
        failed += answer.failed;
        options.onProgress?.({ rows: done, total: rows.length, failed });
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, options.concurrency ?? 1), Math.max(1, chunks.length)) }, worker));
    const result: BatchAllResponse = { total: rows.length, successful: 0, failed: 0, results: [], errors: [], chunks: chunks.length, model_versions: [], inference_time_ms: 0 };
    answers.forEach((answer, c) => {
      const shift = offset + c * size;
      result.successful += answer.successful;
      result.failed += answer.failed;
      result.inference_time_ms += answer.inference_time_ms;
      if (!result.model_versions.includes(answer.model_version)) result.model_versions.push(answer.model_version);
      for (const r of answer.results) result.results.push({ ...r, index: r.index + shift });
      for (const e of answer.errors) {
        result.errors.push({
          ...e,
          index: e.index + shift,
          issues: e.issues.map((issue) => ({ ...issue, field: issue.field.replace(/^inputs\.(\d+)/, (_m, i: string) => `inputs.${Number(i) + shift}`) })),
        });
      }
    });
    return result;
  }

  status(): Promise<StatusResponse> {
    return this.call('GET /api/v1/twin/status');
  }

  modelInfo(): Promise<ModelInfo> {
    return this.call('GET /model/info');
  }

  /** Request counts, predictions and uptime (GET /metrics). */
  metrics(): Promise<MetricsResponse> {
    return this.call('GET /metrics');
  }

  /** Open Inference Protocol inference: tensor in, tensors out. */
  infer(model: string, request: InferRequest, options: CallOptions & { version?: string } = {}): Promise<InferResponse> {
    return options.version
      ? this.call('POST /v2/models/{name}/versions/{version}/infer', { params: { name: model, version: options.version }, body: request }, options)
      : this.call('POST /v2/models/{name}/infer', { params: { name: model }, body: request }, options);
  }

  /** Open Inference Protocol model metadata. */
  modelMetadata(model: string, version?: string): Promise<ModelMetadata> {
    return version ? this.call('GET /v2/models/{name}/versions/{version}', { params: { name: model, version } }) : this.call('GET /v2/models/{name}', { params: { name: model } });
  }

  // -------------------------------------------------------------------------------------------------------
  // Identity and audit

  readonly keys = {
    create: (request: CreateKeyRequest): Promise<KeyWithSecret> => this.call('POST /api/v1/keys', { body: request }),
    list: async (): Promise<KeyView[]> => (await this.call('GET /api/v1/keys')).keys,
    revoke: (id: string): Promise<KeyView> => this.call('DELETE /api/v1/keys/{id}', { params: { id } }),
    rotate: (id: string): Promise<KeyWithSecret> => this.call('POST /api/v1/keys/{id}/rotate', { params: { id } }),
  };

  readonly users = {
    create: (request: CreateUserRequest): Promise<UserView> => this.call('POST /api/v1/users', { body: request }),
    list: async (): Promise<UserView[]> => (await this.call('GET /api/v1/users')).users,
    update: (username: string, changes: UpdateUserRequest): Promise<UserView> => this.call('PATCH /api/v1/users/{username}', { params: { username }, body: changes }),
    setPassword: (username: string, password: string, currentPassword?: string) =>
      this.call('POST /api/v1/users/{username}/password', { params: { username }, body: { password, ...(currentPassword ? { current_password: currentPassword } : {}) } }),
  };

  /** One page of the audit log (newest first); pass `next_cursor` back as `cursor` for the next. */
  audit(query: AuditQuery = {}): Promise<AuditResponse> {
    return this.call('GET /api/v1/audit', { query });
  }

  /** Every matching audit record, page after page. */
  async *auditAll(query: AuditQuery = {}): AsyncGenerator<AuditRecord> {
    let cursor: string | undefined;
    do {
      const page = await this.audit({ ...query, ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  alerts(query: { model?: string; limit?: number } = {}): Promise<AlertsResponse> {
    return this.call('GET /api/v1/alerts', { query });
  }

  /** Model quality (docs/models.md, "Model quality"): measured values, the quality view, calibration. */
  readonly quality = {
    /** Measured values for earlier predictions (≤ 1,000 per call; {@link feedbackAll} splits larger sets). */
    feedback: (model: string, observations: FeedbackObservation[]): Promise<FeedbackResponse> =>
      this.call('POST /api/v1/models/{name}/feedback', { params: { name: model }, body: { observations } }),
    /** Every observation, in calls of at most 1,000; results re-indexed to the input's positions. */
    feedbackAll: async (model: string, observations: FeedbackObservation[]): Promise<FeedbackResponse> => {
      const total: FeedbackResponse = { model, total: 0, accepted: 0, duplicate: 0, unknown: 0, expired: 0, results: [] };
      for (let start = 0; start < observations.length; start += maxFeedbackObservations) {
        const res = await this.quality.feedback(model, observations.slice(start, start + maxFeedbackObservations));
        for (const k of ['total', 'accepted', 'duplicate', 'unknown', 'expired'] as const) total[k] += res[k];
        total.results.push(...res.results.map((r) => ({ ...r, index: r.index + start })));
      }
      return total;
    },
    view: (model: string): Promise<QualityResponse> => this.call('GET /api/v1/models/{name}/quality', { params: { name: model } }),
    calibrate: (model: string, version: string, request: CalibrationRequest): Promise<CalibrationResponse> =>
      this.call('PUT /api/v1/models/{name}/versions/{version}/calibration', { params: { name: model, version }, body: request }),
  };

  // -------------------------------------------------------------------------------------------------------
  // Models

  readonly models = {
    list: (): Promise<ModelList> => this.call('GET /api/v1/models'),
    versions: (name: string): Promise<ModelVersions> => this.call('GET /api/v1/models/{name}/versions', { params: { name } }),
    /**
     * Publishes a package: its manifest and model.onnx (bytes, or a ready request). Up to
     * {@link inlinePublishMaxBytes} the bytes go inline (base64); larger ones are PUT to a presigned S3 URL
     * first (Lambda takes at most 6 MB per request) and the publish names the upload.
     */
    publish: async (name: string, pkg: { manifest: Record<string, unknown>; model: Uint8Array } | PublishRequest): Promise<PublishResponse> => {
      if (!('model' in pkg)) return this.call('POST /api/v1/models/{name}/versions', { params: { name }, body: pkg });
      if (pkg.model.length <= inlinePublishMaxBytes) {
        return this.call('POST /api/v1/models/{name}/versions', { params: { name }, body: { manifest: pkg.manifest, model_base64: bytesToBase64(pkg.model) } });
      }
      const upload = await this.call('POST /api/v1/models/{name}/uploads', { params: { name } });
      // A presigned URL carries its own authorization: no bearer token goes to S3.
      const put = await this.fetcher(upload.url, { method: upload.method, headers: upload.headers, body: pkg.model as Uint8Array<ArrayBuffer> });
      if (!put.ok) throw new TwinApiError('UPLOAD_FAILED', `uploading model.onnx to its presigned URL answered ${put.status}`, put.status, undefined, { method: 'PUT' });
      return this.call('POST /api/v1/models/{name}/versions', { params: { name }, body: { manifest: pkg.manifest, upload_id: upload.upload_id } });
    },
    activate: (name: string, version: string): Promise<RoutingResponse> => this.call('POST /api/v1/models/{name}/activate', { params: { name }, body: { version } }),
    rollback: (name: string): Promise<RoutingResponse> => this.call('POST /api/v1/models/{name}/rollback', { params: { name } }),
    routing: (name: string, routing: RoutingRequest): Promise<RoutingResponse> => this.call('PUT /api/v1/models/{name}/routing', { params: { name }, body: routing }),
    stats: (name: string): Promise<ModelStats> => this.call('GET /api/v1/models/{name}/stats', { params: { name } }),
    /** A published package as the API answers: model.onnx inline when small, else only `model_url` (presigned). */
    download: (name: string, version: string) => this.call('GET /api/v1/models/{name}/versions/{version}/package', { params: { name, version } }),
    /** A published package with model.onnx as bytes, from the answer or its presigned URL, checked against sha256. */
    downloadModel: async (name: string, version: string): Promise<{ manifest: Record<string, unknown>; sha256: string; model: Uint8Array }> => {
      const pkg = await this.call('GET /api/v1/models/{name}/versions/{version}/package', { params: { name, version } });
      let model: Uint8Array;
      if (pkg.model_base64 !== undefined) model = base64ToBytes(pkg.model_base64);
      else if (pkg.model_url !== undefined) {
        const response = await this.fetcher(pkg.model_url, { method: 'GET' });
        if (!response.ok) throw new TwinApiError('DOWNLOAD_FAILED', `downloading model.onnx from its presigned URL answered ${response.status}`, response.status, undefined, { method: 'GET' });
        model = new Uint8Array(await response.arrayBuffer());
      } else throw new TwinApiError('DOWNLOAD_FAILED', 'the package answer carries neither model_base64 nor model_url', 0, undefined);
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', model as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('');
      if (digest !== pkg.sha256) throw new TwinApiError('DOWNLOAD_FAILED', `model.onnx has SHA-256 ${digest}, the package says ${pkg.sha256}`, 0, undefined);
      return { manifest: pkg.manifest as Record<string, unknown>, sha256: pkg.sha256, model };
    },
  };

  /** The OpenAPI 3.1 document of the API. */
  openapi(): Promise<Record<string, unknown>> {
    return this.call('GET /openapi.json', {}, { anonymous: true }) as Promise<Record<string, unknown>>;
  }
}

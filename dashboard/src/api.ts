import { ApiError, apiErrorFrom, NetworkError } from './errors.js';

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal;
  /** Send the session's token (default true). */
  auth?: boolean;
  accept?: string;
}

export interface ApiResult<T> {
  data: T;
  headers: Headers;
  status: number;
}

/**
 * The API, as the dashboard calls it: JSON in and out, the bearer token from the session, the error envelope
 * turned into {@link ApiError}, a failure to connect into {@link NetworkError}. A 401 on an authenticated call
 * means the token is no longer accepted (expired, keys rotated): `onUnauthorized` signs the user out.
 */
export class ApiClient {
  constructor(
    /** '' for same origin, else an absolute base URL without a trailing slash. */
    readonly baseUrl: string,
    private readonly token: () => string | undefined,
    private readonly onUnauthorized: () => void,
    private readonly fetchFn: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  url(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined && value !== '') params.set(key, String(value));
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ''}`;
  }

  /** The raw response (for streams); throws only NetworkError. */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    const token = options.auth === false ? undefined : this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const url = this.url(path, options.query);
    try {
      return await this.fetchFn(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        // Bearer tokens only: never send or store cookies, never leak the page URL to the API.
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
        cache: 'no-store',
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new NetworkError(this.baseUrl || location.origin, error);
    }
  }

  async call<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResult<T>> {
    const response = await this.raw(method, path, options);
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      const error = apiErrorFrom(response.status, response.headers, text);
      if (response.status === 401 && options.auth !== false) this.onUnauthorized();
      throw error;
    }
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(response.status, 'BAD_RESPONSE', 'The API sent a response that is not JSON', response.headers.get('x-request-id') ?? undefined, undefined);
    }
    return { data: data as T, headers: response.headers, status: response.status };
  }

  async get<T>(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return (await this.call<T>('GET', path, options)).data;
  }

  async post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return (await this.call<T>('POST', path, { ...options, body })).data;
  }

  async put<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return (await this.call<T>('PUT', path, { ...options, body })).data;
  }

  async delete<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.call<T>('DELETE', path, options)).data;
  }
}

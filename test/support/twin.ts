import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters, type JWTPayload, type KeyInput } from 'jose';
import { localAudience, startLocalTwin, type LocalTwin, type LocalTwinOptions } from '../../infra/local/twin.js';

/**
 * Test helpers for the local twin: one twin per test file (the twin sets process.env, and vitest runs each
 * file in its own fork), started in a fresh temp dir and torn down with it; an HTTP client that returns
 * status, headers and parsed JSON; and token forgery for the security tests.
 */

export const adminUsername = 'admin';
export const adminPassword = 'test-admin-password-1';
export const audience = localAudience;

/** A feature row inside every valid range of reactor-yield@1.0.0 (the chapter's example). */
export const validRow = { temp: 360, pressure: 6, flow: 100 } as const;

export interface TestTwin {
  twin: LocalTwin;
  url: string;
  dataDir: string;
  /**
   * The clock the twin's alerts, model quality and rate windows read: `options.clock` (else Date.now) plus an
   * offset the test may only move forward (`advance`), so a test reaches a fresh rate window without waiting.
   */
  clock: { now(): number; advance(ms: number): void };
  /** Stops the twin and removes its data dir (unless `keepDir`, for restart tests). */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

export interface TestTwinOptions {
  /** Default: a fresh temp dir, removed on stop (unless `keepDir`). */
  dataDir?: string;
  /** Default: a free port. */
  port?: number;
  /** Environment for the functions (passed to startLocalTwin). */
  env?: Record<string, string>;
  /** The switchable fault proxies in front of DynamoDB and S3. */
  faults?: boolean;
  /** A dashboard build to serve at `/` (the browser tests build their own); false serves none. */
  dashboardDir?: string | false;
  /** Run the schedules (functions/routes.ts) on this timer; off when absent. */
  schedules?: LocalTwinOptions['schedules'];
  /** The clock of alerts, model quality and rate windows (LocalTwinOptions.clock), before `clock.advance`. */
  clock?: () => number;
  /** The handlers' DynamoDB retry strategy (LocalTwinOptions.dynamoDbRetryStrategy); the SDK's default when absent. */
  dynamoDbRetryStrategy?: LocalTwinOptions['dynamoDbRetryStrategy'];
}

/** Starts a local twin on loopback in `dataDir`, or in a fresh temp dir, with the known admin password. */
export async function startTestTwin(options: TestTwinOptions = {}): Promise<TestTwin> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'twinserve-test-')));
  const base = options.clock ?? Date.now;
  let offsetMs = 0;
  const clock = {
    now: () => base() + offsetMs,
    advance(ms: number) {
      if (!(ms >= 0)) throw new Error(`the test clock only moves forward (asked ${ms} ms)`);
      offsetMs += ms;
    },
  };
  let twin: LocalTwin;
  try {
    twin = await startLocalTwin({
      dataDir,
      port: options.port ?? 0,
      adminPassword,
      ...(options.env ? { env: options.env } : {}),
      ...(options.faults ? { faults: true } : {}),
      ...(options.dashboardDir !== undefined ? { dashboardDir: options.dashboardDir } : {}),
      ...(options.schedules ? { schedules: options.schedules } : {}),
      ...(options.dynamoDbRetryStrategy ? { dynamoDbRetryStrategy: options.dynamoDbRetryStrategy } : {}),
      clock: clock.now,
    });
  } catch (error) {
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    twin,
    url: twin.url,
    dataDir,
    clock,
    async stop({ keepDir = false } = {}) {
      try {
        await twin.stop();
      } finally {
        if (!keepDir) await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

export interface ApiOptions {
  token?: string;
  /** Sent as JSON (content-type application/json unless `headers` says otherwise). */
  body?: unknown;
  /** Sent as is, instead of `body`. */
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined when the body is not JSON. */
  json: T;
  text: string;
}

export type Api = <T = any>(method: string, path: string, options?: ApiOptions) => Promise<ApiResponse<T>>;

/** An HTTP client for one twin URL. */
export function apiClient(baseUrl: string): Api {
  return async (method, path, { token, body, rawBody, headers = {} } = {}) => {
    const sent: Record<string, string> = {};
    let payload: string | Uint8Array | undefined;
    if (rawBody !== undefined) {
      payload = rawBody;
      if (typeof rawBody === 'string') sent['content-type'] = 'application/json';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      sent['content-type'] = 'application/json';
    }
    if (token !== undefined) sent.authorization = `Bearer ${token}`;
    Object.assign(sent, headers);
    const response = await fetch(new URL(path, baseUrl), { method, headers: sent, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await response.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  };
}

/** Logs in through the API and returns the token. */
export async function login(api: Api, username = adminUsername, password = adminPassword): Promise<string> {
  const res = await api<{ token?: string }>('POST', '/api/v1/auth/login', { body: { username, password } });
  if (res.status !== 200 || typeof res.json?.token !== 'string') {
    throw new Error(`login as ${username} answered ${res.status}: ${res.text}`);
  }
  return res.json.token;
}

// ---------------------------------------------------------------------------------------------------------
// Token forgery

export interface SigningKey {
  kid: string;
  key: KeyInput;
}

/** The twin's real signing keys, read from `<dataDir>/signing-keys.json` (the first one signs). */
export async function readSigningKeys(dataDir: string): Promise<SigningKey[]> {
  const file = JSON.parse(await readFile(join(dataDir, 'signing-keys.json'), 'utf8')) as {
    keys: { kid: string; privateJwk: JWK }[];
  };
  return Promise.all(file.keys.map(async (k) => ({ kid: k.kid, key: (await importJWK(k.privateJwk, 'RS256')) as CryptoKey })));
}

/** A fresh RSA key pair the twin has never seen. */
export async function foreignRsaKey(): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  return generateKeyPair('RS256', { extractable: true });
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Claims the twin accepts for `url` (the issuer): admin with predict and read scopes, valid for 10 minutes.
 * Overrides with the value `undefined` remove the claim.
 */
export function claimsFor(url: string, overrides: Record<string, unknown> = {}): JWTPayload {
  const now = nowSeconds();
  const claims: Record<string, unknown> = {
    iss: url,
    aud: audience,
    sub: adminUsername,
    role: 'admin',
    scope: 'twin:predict twin:read',
    typ: 'user',
    iat: now,
    nbf: now,
    exp: now + 600,
    jti: randomUUID(),
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims as JWTPayload;
}

/** Signs `payload` with `key`; the header defaults to `{alg: 'RS256', typ: 'JWT'}` plus what `header` sets. */
export async function signToken(payload: JWTPayload, key: KeyInput, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...header } as JWTHeaderParameters).sign(key);
}

/** A compact JWS with any header and an arbitrary (possibly empty) signature: for `alg: none` and tampering. */
export function rawToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

/** Replaces a token's payload and keeps its header and signature. */
export function withPayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

/** The decoded payload of a compact JWT (no verification). */
export function payloadOf(token: string): Record<string, unknown> {
  const part = token.split('.')[1] ?? '';
  return JSON.parse(new TextDecoder().decode(base64url.decode(part))) as Record<string, unknown>;
}

import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { keyGrantableScopes } from '../../functions/core/auth/keys-service.js';
import { scopesForRole } from '../../functions/core/auth/roles.js';
import { localTableName } from '../../infra/local/seed.js';
import { tables } from '../../infra/tables.js';
import { login, startTestTwin, type Api, type ApiOptions, type ApiResponse, type TestTwin } from './twin.js';

/**
 * Helpers for the identity tests (users, keys, tokens, rate limits, audit), on top of test/support/twin.ts:
 * a twin started with extra environment, direct reads of the DynamoDB tables (to prove what is and is not
 * stored), users and keys through the API, requests from another loopback source address, and a clock
 * helper that moves rate-limit tests to a fresh fixed window.
 */

/**
 * Login throttles high enough that set-up logins never trip them. The throttle itself is proven in
 * test/api/rate-limit.test.ts, which starts its twin with the defaults.
 */
export const relaxedLoginEnv: Record<string, string> = {
  TWIN_LOGIN_LIMIT_PER_USERNAME: '1000',
  TWIN_LOGIN_LIMIT_PER_SOURCE: '1000',
};

/** Like startTestTwin, plus `env` for the functions (passed to startLocalTwin). Fresh temp dir, removed on stop. */
export function startTwinWithEnv(env: Record<string, string> = relaxedLoginEnv): Promise<TestTwin> {
  return startTestTwin({ env });
}

// ---------------------------------------------------------------------------------------------------------
// Direct table access (the AWS SDK against the embedded DynamoDB)

export type TableId = 'Users' | 'ApiKeys' | 'RateCounters' | 'AuditLog' | 'Stats';

export function tableName(id: TableId): string {
  const table = tables.find((t) => t.id === id);
  if (!table) throw new Error(`no table ${id}`);
  return localTableName(table);
}

function documentClient(t: TestTwin): { db: DynamoDBDocumentClient; close(): void } {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: t.twin.dynamodbEndpoint,
    credentials: t.twin.storeCredentials,
  });
  return { db: DynamoDBDocumentClient.from(client), close: () => client.destroy() };
}

/** Every item of a table, read straight from DynamoDB (consistent scan). */
export async function scanTable(t: TestTwin, id: TableId): Promise<Record<string, unknown>[]> {
  const { db, close } = documentClient(t);
  try {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await db.send(new ScanCommand({ TableName: tableName(id), ConsistentRead: true, ExclusiveStartKey: startKey }));
      items.push(...((page.Items ?? []) as Record<string, unknown>[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  } finally {
    close();
  }
}

/** Sets attributes of one item directly (e.g. an API key's expiry in the past: the API cannot create one). */
export async function setItemAttributes(t: TestTwin, id: TableId, key: Record<string, string>, values: Record<string, unknown>): Promise<void> {
  const { db, close } = documentClient(t);
  try {
    const names = Object.fromEntries(Object.keys(values).map((k, i) => [`#a${i}`, k]));
    const vals = Object.fromEntries(Object.values(values).map((v, i) => [`:v${i}`, v]));
    await db.send(
      new UpdateCommand({
        TableName: tableName(id),
        Key: key,
        UpdateExpression: `SET ${Object.keys(values).map((_, i) => `#a${i} = :v${i}`).join(', ')}`,
        ConditionExpression: `attribute_exists(${Object.keys(key)[0]})`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: vals,
      }),
    );
  } finally {
    close();
  }
}

/** The secrets (passwords, keys, key secrets, tokens) that occur anywhere in any of `items`. */
export function secretsFoundIn(items: readonly unknown[], secrets: readonly string[]): string[] {
  const text = JSON.stringify(items);
  return secrets.filter((s) => s.length > 0 && text.includes(s));
}

// ---------------------------------------------------------------------------------------------------------
// Users, keys, tokens through the API

export type RoleName = 'admin' | 'operator' | 'viewer' | 'auditor';

/**
 * The scopes a role grants, as a token's `scope` string. Taken from the product's role table (the single
 * source of truth, still growing); the tests assert the invariants that must hold whatever it lists.
 */
export function roleScope(role: RoleName): string {
  return scopesForRole(role).join(' ');
}

/** The scopes a key of an owner with `role` gets by default: the role's, minus what keys may never carry. */
export function keyScopesFor(role: RoleName): string[] {
  return scopesForRole(role).filter((s) => keyGrantableScopes.includes(s));
}

export interface CreatedUser {
  username: string;
  password: string;
  role: RoleName;
  plant?: string;
}

/** Creates a user through POST /api/v1/users (expects 201) and returns its credentials. */
export async function createUser(
  api: Api,
  token: string,
  user: { username: string; role: RoleName; plant?: string; password?: string },
): Promise<CreatedUser> {
  const password = user.password ?? `pw-${user.username}-0123456789`;
  const res = await api('POST', '/api/v1/users', {
    token,
    body: { username: user.username, password, role: user.role, ...(user.plant ? { plant: user.plant } : {}) },
  });
  if (res.status !== 201) throw new Error(`creating user ${user.username} answered ${res.status}: ${res.text}`);
  return { username: user.username, password, role: user.role, ...(user.plant ? { plant: user.plant } : {}) };
}

/** Creates a user and logs in as it. */
export async function userWithToken(
  api: Api,
  adminToken: string,
  user: { username: string; role: RoleName; plant?: string },
): Promise<CreatedUser & { token: string }> {
  const created = await createUser(api, adminToken, user);
  return { ...created, token: await login(api, created.username, created.password) };
}

export interface CreatedKey {
  id: string;
  prefix: string;
  key: string;
  name: string;
  owner: string;
  plant: string | null;
  scopes: string[];
  status: string;
  created: string;
  expires_at: string;
  last_used: string | null;
  revoked_at: string | null;
  rate_limit_per_minute: number | null;
  previous_secret_valid_until: string | null;
}

/** POST /api/v1/keys, expecting 201. */
export async function createKey(api: Api, token: string, body: Record<string, unknown>): Promise<CreatedKey> {
  const res = await api<CreatedKey>('POST', '/api/v1/keys', { token, body });
  if (res.status !== 201) throw new Error(`creating key ${JSON.stringify(body)} answered ${res.status}: ${res.text}`);
  return res.json;
}

/** The client-credentials grant as JSON (or form-encoded with `form`). */
export function exchangeKey(api: Api, key: string, extra: Record<string, string> = {}, form = false): Promise<ApiResponse> {
  const fields = { grant_type: 'client_credentials', client_secret: key, ...extra };
  return form
    ? api('POST', '/api/v1/auth/token', {
        rawBody: new URLSearchParams(fields).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
    : api('POST', '/api/v1/auth/token', { body: fields });
}

/** Exchanges a key and returns the access token (throws unless 200). */
export async function keyToken(api: Api, key: string, extra: Record<string, string> = {}): Promise<string> {
  const res = await exchangeKey(api, key, extra);
  if (res.status !== 200 || typeof res.json?.access_token !== 'string') throw new Error(`key exchange answered ${res.status}: ${res.text}`);
  return res.json.access_token as string;
}

/** `tw_<id>_<secret>` into its parts (the secret may itself contain `_`). */
export function splitKey(key: string): { keyId: string; secret: string } {
  const m = /^tw_([a-z2-7]{12})_(.{43})$/.exec(key);
  if (!m) throw new Error(`not an API key: ${key}`);
  return { keyId: m[1]!, secret: m[2]! };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The error envelope without its per-request id, to compare two failures. */
export function envelopeWithoutRequestId(res: ApiResponse): unknown {
  const body = structuredClone(res.json) as { error?: { requestId?: unknown } } | undefined;
  if (body?.error) {
    expect(typeof body.error.requestId).toBe('string');
    delete body.error.requestId;
  }
  return body;
}

/** Asserts the envelope `{error:{code,message,requestId,...}, message}` with the status and code. */
export function expectError(res: ApiResponse, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.json?.error?.code, res.text).toBe(code);
  expect(typeof res.json?.error?.message).toBe('string');
  expect(res.json?.message).toBe(res.json?.error?.message);
  expect(res.json?.error?.requestId).toBe(res.headers.get('x-request-id'));
}

/** The fields named by the envelope's `issues`. */
export function issueFields(res: ApiResponse): string[] {
  return ((res.json?.error?.issues ?? []) as { field: string }[]).map((i) => i.field);
}

/** The request id a response carries (API Gateway's `apigw-requestid`; functions repeat it as `x-request-id`). */
export function requestIdOf(res: ApiResponse): string {
  const id = res.headers.get('apigw-requestid');
  if (!id) throw new Error('response has no apigw-requestid');
  return id;
}

// ---------------------------------------------------------------------------------------------------------
// Another source address

/**
 * An API client whose connections come from `localAddress` (any 127.x.y.z on Linux loopback), so the
 * gateway sees another `sourceIp`: the login throttle per source can be tested from one process.
 */
export function apiFrom(baseUrl: string, localAddress: string): Api {
  return (async (method: string, path: string, { token, body, rawBody, headers = {} }: ApiOptions = {}) => {
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
    if (payload !== undefined) sent['content-length'] = String(Buffer.byteLength(payload));
    const url = new URL(path, baseUrl);
    return new Promise<ApiResponse>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method, headers: sent, localAddress, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const responseHeaders = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: responseHeaders, json, text });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }) as Api;
}

// ---------------------------------------------------------------------------------------------------------
// Time

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Rate limits use fixed 60 s windows aligned to the epoch minute, read from the twin's clock. A test that needs
 * all its requests in one window moves that clock to 100 ms into the next window: a whole fresh window, with
 * no real wait and no dependence on the time of day. The assertions never depend on how long anything took.
 */
export function moveToFreshRateWindow(t: TestTwin): void {
  const intoWindowMs = t.clock.now() % 60_000;
  t.clock.advance(60_000 - intoWindowMs + 100);
}

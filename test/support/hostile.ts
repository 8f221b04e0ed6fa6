import { connect } from 'node:net';
import { expect } from 'vitest';
import type { RouteDef } from '../../functions/routes.js';
import { createKey, keyToken, userWithToken } from './identity.js';
import type { Api, ApiResponse } from './twin.js';

/**
 * Helpers of the seventh hostile review (test/api/redteam7-*.security.test.ts): plant south's lowest principals,
 * the token and path each route is swept with, the check every refusal must pass, and a raw HTTP client for
 * what fetch will not send (duplicate Content-Length, Transfer-Encoding beside it).
 */

export interface SouthPrincipals {
  operator: string;
  viewer: string;
  viewerName: string;
  /** A key of the operator's holding only twin:predict. */
  key: string;
}

export async function southPrincipals(api: Api, admin: string, prefix: string): Promise<SouthPrincipals> {
  const operator = (await userWithToken(api, admin, { username: `${prefix}-op`, role: 'operator', plant: 'south' })).token;
  const viewer = await userWithToken(api, admin, { username: `${prefix}-view`, role: 'viewer', plant: 'south' });
  const key = await keyToken(api, (await createKey(api, operator, { name: `${prefix} predict`, scopes: ['twin:predict'] })).key);
  return { operator, viewer: viewer.token, viewerName: viewer.username, key };
}

/**
 * The lowest principal of south holding one of the route's scopes (a key with twin:predict alone; else a
 * viewer; else an operator), or the viewer where none of them does (the refusal is then the test).
 */
export function tokenFor(route: RouteDef, p: SouthPrincipals): string | undefined {
  if (route.auth === 'public') return undefined;
  const scopes: readonly string[] = route.auth.scopes;
  if (scopes.includes('twin:predict')) return p.key;
  if (scopes.includes('twin:read') || scopes.includes('models:read')) return p.viewer;
  if (scopes.includes('twin:feedback') || scopes.includes('keys:manage')) return p.operator;
  return p.viewer;
}

/** The route's path with its parameters filled: the shared model, its version, a key id nobody has, the viewer itself. */
export function pathOf(route: RouteDef, p: SouthPrincipals): string {
  return route.path.replace('{name}', 'reactor-yield').replace('{version}', '1.0.0').replace('{id}', 'zzzzzzzzzzzz').replace('{username}', p.viewerName);
}

/**
 * The house rule for a refusal: 4xx, JSON, no stack, no internal path; a 400, 415 or 422 names the field and the
 * rule it broke (`expectedRule` when given). The gateway's own answers (401, 403, 404, 413, 431) are API
 * Gateway's `{message}`.
 */
export function expectCleanRefusal(res: ApiResponse, what: string, expectedRule?: { field: string; rule: string }): void {
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  expect(res.json, `${what}: the answer is JSON`).toBeTypeOf('object');
  expect(res.text, what).not.toMatch(/\/work\/|node_modules|\n\s+at |\.ts:\d+/);
  const issues = (res.json?.error?.issues ?? res.json?.issues) as { field?: unknown; rule?: unknown }[] | undefined;
  if ([400, 415, 422].includes(res.status)) {
    expect(issues?.length, `${what}: issues name the field`).toBeGreaterThan(0);
    expect(typeof issues![0]!.field, what).toBe('string');
    expect(typeof issues![0]!.rule, what).toBe('string');
  } else {
    expect(typeof (res.json?.message ?? res.json?.error), what).toBe('string');
  }
  if (expectedRule) expect(issues?.[0], `${what}: ${res.text.slice(0, 300)}`).toMatchObject(expectedRule);
}

/** Sends `text` as is on a fresh connection and returns everything the server wrote until it closed (3 s at most). */
export function rawHttp(baseUrl: string, text: string | Buffer): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${received}[still open after 3 s]`);
    }, 3_000);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('error', () => undefined);
    socket.write(text);
  });
}

/** The status lines of every HTTP response in `raw` (a smuggled second request would add one). */
export function statusLines(raw: string): string[] {
  return raw.match(/HTTP\/1\.1 \d{3}[^\r\n]*/g) ?? [];
}

import type { Scope } from '../functions/core/auth/roles.js';

/**
 * THE route table. The local gateway serves exactly these routes and the CDK stacks create exactly these
 * routes, functions and authorizer scopes, so a route cannot exist in one target and not the other.
 * Pure data: imported by the functions too (they re-check the route's scopes).
 */

export const functionNames = ['public-info', 'auth', 'predict', 'batch', 'status'] as const;
export type FunctionName = (typeof functionNames)[number];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDef {
  method: HttpMethod;
  /** API Gateway path syntax: `/api/v1/keys/{id}`. */
  path: string;
  /** The Lambda function (functions/<name>.ts) that serves it. */
  function: FunctionName;
  /** `public`, or the JWT authorizer with these scopes (API Gateway: the token needs at least one). */
  auth: 'public' | { scopes: readonly Scope[] };
  summary: string;
}

export const routes: readonly RouteDef[] = [
  { method: 'GET', path: '/health', function: 'public-info', auth: 'public', summary: 'Service health and serving model version' },
  { method: 'GET', path: '/.well-known/openid-configuration', function: 'public-info', auth: 'public', summary: 'OpenID discovery for the JWT authorizer' },
  { method: 'GET', path: '/.well-known/jwks.json', function: 'public-info', auth: 'public', summary: 'Public signing keys (current and previous)' },
  { method: 'POST', path: '/api/v1/auth/login', function: 'auth', auth: 'public', summary: 'Password login: {username, password} -> {token, expires_in}' },
  { method: 'POST', path: '/api/v1/twin/predict', function: 'predict', auth: { scopes: ['twin:predict'] }, summary: 'One prediction with its 90% interval' },
  { method: 'POST', path: '/api/v1/twin/batch', function: 'batch', auth: { scopes: ['twin:predict'] }, summary: 'Up to 100 predictions in one inference run' },
  { method: 'GET', path: '/api/v1/twin/status', function: 'status', auth: { scopes: ['twin:read'] }, summary: 'Service status and model info' },
  { method: 'POST', path: '/predict', function: 'predict', auth: { scopes: ['twin:predict'] }, summary: "The chapter's microservice predict: {success, result, request_id}" },
  { method: 'GET', path: '/model/info', function: 'status', auth: { scopes: ['twin:read'] }, summary: 'Model information' },
  { method: 'GET', path: '/metrics', function: 'status', auth: { scopes: ['twin:read'] }, summary: 'Request counts and uptime' },
];

export function routeKey(route: Pick<RouteDef, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

const byKey = new Map(routes.map((r) => [routeKey(r), r]));

export function findRouteByKey(key: string): RouteDef | undefined {
  return byKey.get(key);
}

import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/**
 * API Gateway HTTP API (payload format 2.0) events as the JWT authorizer hands them to a function: the
 * token already verified, its claims as strings. For invoking a handler in-process, without the gateway.
 */

export type Handler = (event: APIGatewayProxyEventV2WithJWTAuthorizer, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** How bench/cold-start.ts marks its one result line. */
export const coldStartResultPrefix = 'BENCH_RESULT ';

export interface EventOptions {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** The verified token's claims (strings, as API Gateway passes them). */
  claims: Record<string, string>;
}

/** Claims of an admin user token with the predict and read scopes, valid for an hour. */
export function adminClaims(issuer: string, audience: string): Record<string, string> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: audience,
    sub: 'admin',
    role: 'admin',
    scope: 'twin:predict twin:read',
    typ: 'user',
    iat: String(now),
    nbf: String(now),
    exp: String(now + 3600),
    jti: randomUUID(),
  };
}

export function httpEvent(options: EventOptions): APIGatewayProxyEventV2WithJWTAuthorizer {
  const now = Date.now();
  const requestId = randomUUID();
  const routeKey = `${options.method} ${options.path}`;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return {
    version: '2.0',
    routeKey,
    rawPath: options.path,
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
      host: 'bench.local',
      'user-agent': 'twinserve-bench',
    },
    requestContext: {
      accountId: 'bench',
      apiId: 'bench',
      domainName: 'bench.local',
      domainPrefix: 'bench',
      http: { method: options.method, path: options.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'twinserve-bench' },
      requestId,
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
      authorizer: { principalId: '', integrationLatency: 0, jwt: { claims: options.claims, scopes: (options.claims.scope ?? '').split(' ') } },
    },
    isBase64Encoded: false,
    ...(body ? { body } : {}),
  };
}

export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

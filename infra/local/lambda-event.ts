/**
 * The local gateway's side of a Lambda invocation: the payload-format-2.0 event built from a request, the
 * context and the timeout of the invocation, and the result written back as API Gateway does.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { FunctionName } from '../../functions/routes.js';
import { GatewayResponse } from './gateway-response.js';
import type { CompiledRoute } from './gateway-routes.js';

export type LambdaHandler = (event: APIGatewayProxyEventV2WithJWTAuthorizer, context: Context) => Promise<unknown>;

/** The client's address as the API events carry it (X-Forwarded-For only behind a trusted proxy). */
export function sourceIp(req: IncomingMessage, trustProxy: boolean | undefined): string {
  const direct = req.socket.remoteAddress ?? '127.0.0.1';
  if (!trustProxy) return direct;
  const forwarded = String(req.headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)
    .at(-1);
  return forwarded && /^[0-9a-fA-F:.]{2,45}$/.test(forwarded) ? forwarded : direct;
}

/** The payload-format-2.0 event API Gateway sends the function for this request (its authorizer's claims and scopes included). */
export function buildEvent(
  req: IncomingMessage,
  url: URL,
  compiled: CompiledRoute,
  pathParameters: Record<string, string>,
  body: Buffer,
  requestId: string,
  started: number,
  authorizer: { claims: Record<string, string>; scopes: string[] } | undefined,
  trustProxy: boolean | undefined,
): APIGatewayProxyEventV2WithJWTAuthorizer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const contentType = req.headers['content-type'] ?? '';
  // Text goes as text only when it is UTF-8; other bytes go as base64, so the function sees them as sent
  // (read as UTF-8 here, each bad byte would become U+FFFD and be stored that way) and refuses them.
  const textual = body.length === 0 || (/json|text|xml|x-www-form-urlencoded|javascript/i.test(contentType) && isUtf8(body));
  const cookies = req.headers.cookie?.split(';').map((c) => c.trim()).filter(Boolean);
  const host = req.headers.host ?? 'localhost';
  const event = {
    version: '2.0',
    routeKey: compiled.key,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: compiled.route.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: sourceIp(req, trustProxy),
        userAgent: req.headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: compiled.key,
      stage: '$default',
      time: new Date(started).toUTCString(),
      timeEpoch: started,
      authorizer: authorizer ? { principalId: '', integrationLatency: 0, jwt: { claims: authorizer.claims, scopes: authorizer.scopes } } : undefined,
    },
    isBase64Encoded: !textual,
    ...(cookies?.length ? { cookies } : {}),
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    ...(body.length ? { body: textual ? body.toString('utf8') : body.toString('base64') } : {}),
  };
  return event as unknown as APIGatewayProxyEventV2WithJWTAuthorizer;
}

/** Invokes `handler` as Lambda would, with a context and `timeoutMs` (API Gateway's 503 when it runs out). */
export async function invoke(handler: LambdaHandler, fn: FunctionName, event: APIGatewayProxyEventV2WithJWTAuthorizer, requestId: string, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  const context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `twinserve-local-${fn}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:twinserve-local-${fn}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/twinserve-local-${fn}`,
    logStreamName: requestId,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  } as Context;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GatewayResponse(503, 'Service Unavailable')), timeoutMs);
  });
  try {
    return await Promise.race([handler(event, context), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Payload format 2.0 responses, including API Gateway's inference for results without a statusCode. */
export function writeResult(res: ServerResponse, result: unknown, requestId: string): number {
  const structured =
    typeof result === 'object' && result !== null && 'statusCode' in result
      ? (result as APIGatewayProxyStructuredResultV2)
      : { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result ?? null) };
  const statusCode = structured.statusCode ?? 200;
  const headers: Record<string, string | string[]> = { 'apigw-requestid': requestId };
  for (const [k, v] of Object.entries(structured.headers ?? {})) headers[k.toLowerCase()] = String(v);
  if (structured.cookies?.length) headers['set-cookie'] = structured.cookies;
  const body = structured.body === undefined ? Buffer.alloc(0) : Buffer.from(structured.body, structured.isBase64Encoded ? 'base64' : 'utf8');
  headers['content-length'] = String(body.length);
  res.writeHead(statusCode, headers);
  res.end(body);
  return statusCode;
}

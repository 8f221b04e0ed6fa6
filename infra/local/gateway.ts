import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { routeKey, routes, type FunctionName, type RouteDef } from '../../functions/routes.js';

/**
 * The local twin's API Gateway: an HTTP API emulator built from the route table. For each request it
 * matches a route, performs the JWT authorizer's checks on protected routes, builds the payload-format-2.0
 * event, invokes the same Lambda handler that runs in AWS, and writes its result back. The answers it gives
 * on its own (401, 403, 404, 413, 500, 503) have API Gateway's bodies.
 */

/** API Gateway HTTP API's payload limit (10 MB) and maximum integration timeout (30 s), which the gateway keeps. */
export const apiGatewayMaxBodyBytes = 10 * 1024 * 1024;
export const apiGatewayTimeoutMs = 30_000;
/**
 * Lambda's synchronous invocation payloads, which bind before API Gateway's 10 MB: the event (JSON, the body
 * base64 when binary) at most 6 MiB, the result at most 6 MiB + 100 bytes. Large model files therefore move
 * through presigned S3 URLs (docs/api.md).
 */
export const lambdaMaxEventBytes = 6 * 1024 * 1024;
export const lambdaMaxResultBytes = 6 * 1024 * 1024 + 100;

export type LambdaHandler = (event: APIGatewayProxyEventV2WithJWTAuthorizer, context: Context) => Promise<unknown>;

export interface GatewayOptions {
  handlers: Record<FunctionName, LambdaHandler>;
  /** Exact issuer the authorizer accepts; its discovery document names the JWKS. Resolved lazily. */
  issuer: () => string;
  audience: string;
  host?: string;
  port?: number;
  /** API Gateway HTTP API's payload limit is 10 MB. */
  maxBodyBytes?: number;
  /** API Gateway HTTP API's integration timeout is at most 30 s. */
  timeoutMs?: number;
  /**
   * Enforce Lambda's 6 MB event and result limits (413 for a larger event, API Gateway's 500 for a larger
   * result), as the functions behind the routes have them in AWS. The edge twin, a long-lived process, does not.
   * @default true
   */
  lambdaPayloadLimits?: boolean;
  /** Receives one JSON access-log line per request (API Gateway access logs); omitted = silent. */
  accessLog?: (line: Record<string, unknown>) => void;
  /**
   * Where the authorizer gets the issuer's public keys. Default: fetched from the issuer's discovery document,
   * as API Gateway does. Given (the edge twin over TLS, or behind a public URL), the keys come in-process from
   * the same signer that serves /.well-known/jwks.json, so verification never depends on the box trusting
   * its own certificate or resolving its own public name.
   */
  keys?: () => Promise<JSONWebKeySet>;
  /**
   * Behind a reverse proxy (nginx at the edge): take the client address from the last `X-Forwarded-For`
   * entry, the one the proxy appended. Only set it when a proxy is the only way in. @default false
   */
  trustProxy?: boolean;
  /** Serve HTTPS with this certificate and key (PEM), TLS 1.2 at least. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Extra non-API request handling (e.g. static dashboard files) tried before the 404. */
  fallback?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /**
   * Listen but answer every request 503 (Retry-After: 1) until {@link LocalGateway.open}: the twin listens before
   * it seeds (its issuer is the listen URL), and a start may rebuild a table; nothing may be served, read or
   * written half-way through. @default false
   */
  startClosed?: boolean;
}

interface CompiledRoute {
  route: RouteDef;
  key: string;
  pattern: RegExp;
  params: string[];
}

function compile(route: RouteDef): CompiledRoute {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) {
        params.push(greedy[1]!);
        return '(.+)';
      }
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param) {
        params.push(param[1]!);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { route, key: routeKey(route), pattern: new RegExp(`^${source}$`), params };
}

class GatewayResponse extends Error {
  constructor(
    readonly statusCode: number,
    readonly apiMessage: string,
  ) {
    super(apiMessage);
  }
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512'];

/** How long a verified token is trusted without re-verifying its signature: the JWKS cache's max age. */
const verifiedTokenTtlMs = 300_000;
const verifiedTokenCacheSize = 10_000;

interface VerifiedToken {
  claims: Record<string, string>;
  scopes: string[];
  /** The issuer it was verified against (the gateway's issuer is resolved lazily). */
  issuer: string;
  /** The token's exp (seconds). */
  exp: number;
  /** Trusted until then (ms): its expiry, at most verifiedTokenTtlMs after verification. */
  until: number;
}

/** API Gateway hands claims to the function as strings. */
function stringifyClaims(payload: JWTPayload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (typeof value === 'string') out[key] = value;
    else if (Array.isArray(value)) out[key] = `[${value.join(' ')}]`;
    else if (typeof value === 'object' && value !== null) out[key] = JSON.stringify(value);
    else out[key] = String(value);
  }
  return out;
}

function tokenScopes(payload: JWTPayload): string[] {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

export class LocalGateway {
  private readonly compiled: CompiledRoute[];
  private server: Server | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private jwksIssuer: string | undefined;
  /**
   * Tokens that passed the signature, header, issuer and audience checks, by their exact compact string.
   * A client sends the same token on every request until it expires; its RS256 signature need not be
   * verified each time (it was a tenth of the gateway's CPU under load). The time claims are re-checked on
   * every request; an entry lives at most {@link verifiedTokenTtlMs}, the JWKS cache's own age, so a key
   * removed from the JWKS stops being honoured on the same schedule as with jose's key cache alone.
   * Failures are never cached: a forged or tampered token is a different string and is verified in full.
   */
  private readonly verified = new Map<string, VerifiedToken>();

  /** True from construction (with `startClosed`) until {@link open}. */
  private closedForStart: boolean;

  constructor(private readonly options: GatewayOptions) {
    this.compiled = routes.map(compile);
    this.closedForStart = options.startClosed ?? false;
  }

  async listen(): Promise<string> {
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      const handling = this.handle(req, res);
      this.inflight.add(handling);
      void handling.finally(() => this.inflight.delete(handling)).catch(() => undefined);
      handling.catch((error: unknown) => {
        // Last line of defence: one bad request must never take the twin down.
        process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'gateway failure', error: String(error) })}\n`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Internal Server Error' }));
      });
    };
    this.server = this.options.tls
      ? createHttpsServer({ cert: this.options.tls.cert, key: this.options.tls.key, minVersion: 'TLSv1.2' }, listener)
      : createServer(listener);
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    const host = this.options.host ?? '127.0.0.1';
    return `${this.options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /**
   * Stops accepting requests, lets the ones in flight finish (up to `graceMs`, so the stores behind them are
   * not closed under their feet), then closes every connection.
   */
  async close(graceMs = 5_000): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    server.closeAllConnections();
    await closed;
  }

  private match(method: string, path: string): { compiled: CompiledRoute; pathParameters: Record<string, string> } | undefined {
    for (const compiled of this.compiled) {
      if (compiled.route.method !== method) continue;
      const m = compiled.pattern.exec(path);
      if (!m) continue;
      const pathParameters: Record<string, string> = {};
      compiled.params.forEach((name, i) => {
        try {
          pathParameters[name] = decodeURIComponent(m[i + 1]!);
        } catch {
          throw new GatewayResponse(400, 'Bad Request');
        }
      });
      return { compiled, pathParameters };
    }
    return undefined;
  }

  private keySet() {
    const issuer = this.options.issuer();
    const provide = this.options.keys;
    if (provide && !this.jwks) {
      let local: { set: ReturnType<typeof createLocalJWKSet>; loaded: number } | undefined;
      this.jwks = (async (header, token) => {
        // Re-read at most every 5 minutes (as API Gateway caches JWKS), and once at once on an unknown kid.
        const fresh = local && Date.now() - local.loaded < 300_000;
        if (!fresh) local = { set: createLocalJWKSet(await provide()), loaded: Date.now() };
        try {
          return await local!.set(header, token);
        } catch (error) {
          if (!fresh) throw error;
          local = { set: createLocalJWKSet(await provide()), loaded: Date.now() };
          return local.set(header, token);
        }
      }) as ReturnType<typeof createRemoteJWKSet>;
      this.jwksIssuer = issuer;
    }
    if (!this.jwks || this.jwksIssuer !== issuer) {
      // Discovery is fetched lazily, as API Gateway does, from the issuer's own well-known document.
      let jwksUri: Promise<URL> | undefined;
      const resolveUri = () =>
        (jwksUri ??= fetch(`${issuer}/.well-known/openid-configuration`)
          .then((r) => {
            if (!r.ok) throw new Error(`discovery answered ${r.status}`);
            return r.json() as Promise<{ jwks_uri?: string; issuer?: string }>;
          })
          .then((doc) => {
            if (doc.issuer !== issuer || !doc.jwks_uri) throw new Error('discovery document does not match the issuer');
            return new URL(doc.jwks_uri);
          })
          .catch((error: unknown) => {
            jwksUri = undefined;
            throw error;
          }));
      let remote: ReturnType<typeof createRemoteJWKSet> | undefined;
      const lazy = (async (header, token) => {
        remote ??= createRemoteJWKSet(await resolveUri(), { cooldownDuration: 5_000, cacheMaxAge: 300_000 });
        return remote(header, token);
      }) as ReturnType<typeof createRemoteJWKSet>;
      this.jwks = lazy;
      this.jwksIssuer = issuer;
    }
    return this.jwks;
  }

  /** The JWT authorizer: RSA only, `kid` required, exact iss and aud, exp/nbf/iat, then the route's scopes. */
  private async authorize(req: IncomingMessage, route: RouteDef): Promise<{ claims: Record<string, string>; scopes: string[] }> {
    if (route.auth === 'public') throw new Error('public route');
    const header = req.headers.authorization;
    if (!header) throw new GatewayResponse(401, 'Unauthorized');
    return this.verify(header.replace(/^Bearer\s+/i, '').trim(), route.auth.scopes);
  }

  /**
   * The authorizer's verdict on a token for these scopes (for the local twin's extra endpoints): its claims
   * as API Gateway hands them to a function, or the status the authorizer answers (401, 403).
   */
  async authorizeToken(token: string, scopes: readonly string[]): Promise<{ claims: Record<string, string> } | { status: number }> {
    try {
      return { claims: (await this.verify(token, scopes)).claims };
    } catch (error) {
      return { status: error instanceof GatewayResponse ? error.statusCode : 401 };
    }
  }

  /** The client's address as the API events carry it (X-Forwarded-For only behind a trusted proxy). */
  clientAddress(req: IncomingMessage): string {
    return this.sourceIp(req);
  }

  private async verify(token: string, required: readonly string[]): Promise<{ claims: Record<string, string>; scopes: string[] }> {
    const issuer = this.options.issuer();
    const now = Date.now();
    const known = this.verified.get(token);
    if (known && known.issuer === issuer && now < known.until) {
      // jose's rule: expired once exp <= now (seconds); nbf and iat were in the past when it was verified.
      if (known.exp <= Math.floor(now / 1000)) {
        this.verified.delete(token);
        throw new GatewayResponse(401, 'Unauthorized');
      }
      if (!required.some((s) => known.scopes.includes(s))) throw new GatewayResponse(403, 'Forbidden');
      // Copies: each event gets its own claims, as from a fresh verification.
      return { claims: { ...known.claims }, scopes: [...known.scopes] };
    }
    let payload: JWTPayload;
    try {
      const protectedHeader = decodeProtectedHeader(token);
      if (!protectedHeader.kid || !RSA_ALGORITHMS.includes(String(protectedHeader.alg))) throw new Error('bad header');
      ({ payload } = await jwtVerify(token, this.keySet(), {
        issuer: this.options.issuer(),
        audience: this.options.audience,
        algorithms: RSA_ALGORITHMS,
        requiredClaims: ['exp'],
      }));
      if (typeof payload.iat === 'number' && payload.iat > Math.floor(Date.now() / 1000)) throw new Error('issued in the future');
    } catch {
      throw new GatewayResponse(401, 'Unauthorized');
    }
    const scopes = tokenScopes(payload);
    const claims = stringifyClaims(payload);
    this.remember(token, { claims: { ...claims }, scopes: [...scopes], issuer, exp: payload.exp!, until: Math.min(payload.exp! * 1000, now + verifiedTokenTtlMs) });
    if (!required.some((s) => scopes.includes(s))) throw new GatewayResponse(403, 'Forbidden');
    return { claims, scopes };
  }

  private remember(token: string, entry: VerifiedToken): void {
    if (this.verified.size >= verifiedTokenCacheSize) {
      // Oldest first (insertion order); expired entries go first when a slot is needed.
      const now = Date.now();
      for (const [key, value] of this.verified) if (value.until <= now) this.verified.delete(key);
      if (this.verified.size >= verifiedTokenCacheSize) this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, entry);
  }

  private sourceIp(req: IncomingMessage): string {
    const direct = req.socket.remoteAddress ?? '127.0.0.1';
    if (!this.options.trustProxy) return direct;
    const forwarded = String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean)
      .at(-1);
    return forwarded && /^[0-9a-fA-F:.]{2,45}$/.test(forwarded) ? forwarded : direct;
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.options.maxBodyBytes ?? apiGatewayMaxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) throw new GatewayResponse(413, 'Request Entity Too Large');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new GatewayResponse(413, 'Request Entity Too Large');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Starts serving (a gateway made with `startClosed`). */
  open(): void {
    this.closedForStart = false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomBytes(10).toString('base64').replace(/=+$/, '=');
    const method = (req.method ?? 'GET').toUpperCase();
    let url = new URL('http://localhost/');
    let status = 500;
    let routeKeyUsed = '-';
    try {
      if (this.closedForStart) {
        res.setHeader('retry-after', '1');
        throw new GatewayResponse(503, 'Service Unavailable');
      }
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        throw new GatewayResponse(400, 'Bad Request');
      }
      const matched = this.match(method, url.pathname);
      if (!matched) {
        if (this.options.fallback?.(req, res)) {
          status = res.statusCode;
          return;
        }
        throw new GatewayResponse(404, 'Not Found');
      }
      const { compiled, pathParameters } = matched;
      routeKeyUsed = compiled.key;
      const authorizer = compiled.route.auth === 'public' ? undefined : await this.authorize(req, compiled.route);
      const body = await this.readBody(req);
      const event = this.buildEvent(req, url, compiled, pathParameters, body, requestId, started, authorizer);
      const limits = this.options.lambdaPayloadLimits ?? true;
      // Measured only when the body could come near the limit (serializing every event would cost CPU).
      if (limits && body.length > lambdaMaxEventBytes / 2 && Buffer.byteLength(JSON.stringify(event)) > lambdaMaxEventBytes) {
        throw new GatewayResponse(413, 'Request Entity Too Large');
      }
      const result = await this.invoke(compiled.route.function, event, requestId);
      if (limits && resultTooLarge(result)) {
        process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'lambda result over 6 MB: Lambda refuses it, API Gateway answers 500', requestId, route: compiled.key })}\n`);
        throw new GatewayResponse(500, 'Internal Server Error');
      }
      status = this.writeResult(res, result, requestId);
    } catch (error) {
      const response = error instanceof GatewayResponse ? error : new GatewayResponse(500, 'Internal Server Error');
      if (!(error instanceof GatewayResponse)) {
        process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'lambda invocation failed', requestId, error: String(error) })}\n`);
      }
      status = response.statusCode;
      if (!res.headersSent) {
        res.writeHead(response.statusCode, { 'content-type': 'application/json', 'apigw-requestid': requestId });
        res.end(JSON.stringify({ message: response.apiMessage }));
      }
    } finally {
      this.options.accessLog?.({
        requestId,
        ip: req.socket.remoteAddress,
        requestTime: new Date(started).toISOString(),
        httpMethod: method,
        routeKey: routeKeyUsed,
        path: url.pathname,
        status,
        responseLatency: Date.now() - started,
      });
    }
  }

  private buildEvent(
    req: IncomingMessage,
    url: URL,
    compiled: CompiledRoute,
    pathParameters: Record<string, string>,
    body: Buffer,
    requestId: string,
    started: number,
    authorizer: { claims: Record<string, string>; scopes: string[] } | undefined,
  ): APIGatewayProxyEventV2WithJWTAuthorizer {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || name === 'cookie') continue;
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
    const contentType = req.headers['content-type'] ?? '';
    const textual = body.length === 0 || /json|text|xml|x-www-form-urlencoded|javascript/i.test(contentType);
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
          sourceIp: this.sourceIp(req),
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

  private async invoke(fn: FunctionName, event: APIGatewayProxyEventV2WithJWTAuthorizer, requestId: string): Promise<unknown> {
    const timeoutMs = this.options.timeoutMs ?? apiGatewayTimeoutMs;
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
      return await Promise.race([this.options.handlers[fn](event, context), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Payload format 2.0 responses, including API Gateway's inference for results without a statusCode. */
  private writeResult(res: ServerResponse, result: unknown, requestId: string): number {
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
}

/** Whether a handler's result is over Lambda's response limit (cheap unless its body is large). */
function resultTooLarge(result: unknown): boolean {
  const body = typeof result === 'object' && result !== null && 'body' in result ? (result as { body?: unknown }).body : undefined;
  if (typeof body === 'string' && body.length < lambdaMaxResultBytes / 2) return false;
  return Buffer.byteLength(JSON.stringify(result ?? null)) > lambdaMaxResultBytes;
}

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { routes, type FunctionName, type RouteDef } from '../../functions/routes.js';
import { apiGatewayMaxBodyBytes, apiGatewayTimeoutMs, lambdaMaxEventBytes, resultTooLarge } from './gateway-limits.js';
import { GatewayResponse, parserRefusal } from './gateway-response.js';
import { compile, matchRoute, type CompiledRoute } from './gateway-routes.js';
import { JwtAuthorizer } from './jwt-authorizer.js';
import { buildEvent, invoke, sourceIp, writeResult, type LambdaHandler } from './lambda-event.js';

/**
 * The local twin's API Gateway: an HTTP API emulator built from the route table. For each request it
 * matches a route, performs the JWT authorizer's checks on protected routes, builds the payload-format-2.0
 * event, invokes the same Lambda handler that runs in AWS, and writes its result back. The answers it gives
 * on its own (401, 403, 404, 413, 500, 503) have API Gateway's bodies.
 *
 * Its parts: the routing (gateway-routes.ts), the JWT authorizer and its cache (jwt-authorizer.ts), the Lambda
 * event, invocation and result (lambda-event.ts), the limits it keeps (gateway-limits.ts).
 */

export { apiGatewayMaxBodyBytes, apiGatewayTimeoutMs, lambdaMaxEventBytes, lambdaMaxResultBytes } from './gateway-limits.js';
export type { LambdaHandler } from './lambda-event.js';

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

export class LocalGateway {
  private readonly compiled: CompiledRoute[];
  private server: Server | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly authorizer: JwtAuthorizer;

  /** True from construction (with `startClosed`) until {@link open}. */
  private closedForStart: boolean;

  constructor(private readonly options: GatewayOptions) {
    this.compiled = routes.map(compile);
    this.authorizer = new JwtAuthorizer(options);
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
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      const answer = socket.writable ? parserRefusal(error) : undefined;
      if (answer) socket.end(answer);
      else socket.destroy();
    });
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

  /** The JWT authorizer: RSA only, `kid` required, exact iss and aud, exp/nbf/iat, then the route's scopes. */
  private async authorize(req: IncomingMessage, route: RouteDef): Promise<{ claims: Record<string, string>; scopes: string[] }> {
    if (route.auth === 'public') throw new Error('public route');
    const header = req.headers.authorization;
    if (!header) throw new GatewayResponse(401, 'Unauthorized');
    return this.authorizer.verify(header.replace(/^Bearer\s+/i, '').trim(), route.auth.scopes);
  }

  /**
   * The authorizer's verdict on a token for these scopes (for the local twin's extra endpoints): its claims
   * as API Gateway hands them to a function, or the status the authorizer answers (401, 403).
   */
  async authorizeToken(token: string, scopes: readonly string[]): Promise<{ claims: Record<string, string> } | { status: number }> {
    try {
      return { claims: (await this.authorizer.verify(token, scopes)).claims };
    } catch (error) {
      return { status: error instanceof GatewayResponse ? error.statusCode : 401 };
    }
  }

  /** The client's address as the API events carry it (X-Forwarded-For only behind a trusted proxy). */
  clientAddress(req: IncomingMessage): string {
    return sourceIp(req, this.options.trustProxy);
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
      const matched = matchRoute(this.compiled, method, url.pathname);
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
      const event = buildEvent(req, url, compiled, pathParameters, body, requestId, started, authorizer, this.options.trustProxy);
      const limits = this.options.lambdaPayloadLimits ?? true;
      // Measured only when the body could come near the limit (serializing every event would cost CPU).
      if (limits && body.length > lambdaMaxEventBytes / 2 && Buffer.byteLength(JSON.stringify(event)) > lambdaMaxEventBytes) {
        throw new GatewayResponse(413, 'Request Entity Too Large');
      }
      const result = await invoke(this.options.handlers[compiled.route.function], compiled.route.function, event, requestId, this.options.timeoutMs ?? apiGatewayTimeoutMs);
      if (limits && resultTooLarge(result)) {
        process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'lambda result over 6 MB: Lambda refuses it, API Gateway answers 500', requestId, route: compiled.key })}\n`);
        throw new GatewayResponse(500, 'Internal Server Error');
      }
      status = writeResult(res, result, requestId);
    } catch (error) {
      const response = error instanceof GatewayResponse ? error : new GatewayResponse(500, 'Internal Server Error');
      if (!(error instanceof GatewayResponse)) {
        process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'lambda invocation failed', requestId, error: String(error) })}\n`);
      }
      status = response.statusCode;
      if (!res.headersSent) {
        res.writeHead(response.statusCode, { 'content-type': 'application/json', 'apigw-requestid': requestId });
        res.end(JSON.stringify({ message: response.apiMessage, ...(response.issues ? { issues: response.issues } : {}) }));
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
}

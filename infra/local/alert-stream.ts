import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { alertStreamQuerySchema, alertVisibleTo } from '../../functions/core/alerts/service.js';
import { principalFromClaims, type Principal } from '../../functions/core/auth/tokens.js';
import { AppError, InvalidRequestError, RateLimitedError, summarizeIssues } from '../../functions/core/errors.js';
import { fieldIssuesFromZod } from '../../functions/core/zod-issues.js';
import { errorResult } from '../../functions/middleware/http.js';
import { logger } from '../../functions/observability.js';
import type { AuditRecord } from '../../functions/core/ports.js';
import { rateLimitHeaders } from '../../functions/core/rate-limit.js';
import type { Services } from '../../functions/services.js';
import { auditLog, principals, rateLimit } from '../../functions/services/request.js';
import type { SinkMessage, SnsSink } from './sns-sink.js';

/** Open streams per person (a user and its keys together): a dashboard tab each, not an unbounded fan-out. */
export const maxStreamsPerPrincipal = 3;
/**
 * The most a stream may hold unsent (its client not reading, the socket's buffers full) before it is dropped:
 * some hundreds of alerts, far more than a replay (at most 100) or a storm under the alert cap brings at once.
 */
export const maxStreamBacklogBytes = 1024 * 1024;
/** How often the stream re-checks its principal when the principal cache is off (bound 0). */
const recheckWhenUncachedMs = 1_000;

export interface AlertStreamDeps {
  sns: SnsSink;
  /** The gateway's JWT authorizer: claims, or the status it answers. */
  authorize(token: string, scopes: readonly string[]): Promise<{ claims: Record<string, string> } | { status: number }>;
  clientAddress(req: IncomingMessage): string;
  services(): Services;
}

/** The query's parameters as API Gateway hands them to a function: a repeated one joined with commas. */
function queryParameters(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of query) out[name] = Object.hasOwn(out, name) ? `${out[name]},${value}` : value;
  return out;
}

/** The alert cap's notices (functions/core/alerts/cap.ts): about a plant, not a model. */
const capNotices = new Set(['alerts_capped', 'alerts_suppressed']);

/**
 * The alert event an SNS message carries (AlertService publishes `{type, ...event}`), or an alert cap notice
 * (`{kind, plant?, ...}`, shown to the plant it counts), when it is one.
 */
/**
 * The replay group of a sink message (infra/local/sns-sink.ts): an alert's plant, '' for the platform's own
 * (no plant); none for a message that is no alert. A plant principal's replay reads its plant's group only.
 */
export function replayGroupOf(message: SinkMessage): string | undefined {
  const event = alertOf(message);
  return event === undefined ? undefined : (event.plant ?? '');
}

function alertOf(message: SinkMessage): { plant?: string; model: string } | undefined {
  const body = message.message;
  if (typeof body !== 'object' || body === null) return undefined;
  const { plant, model, kind } = body as { plant?: unknown; model?: unknown; kind?: unknown };
  if (plant !== undefined && typeof plant !== 'string') return undefined;
  if (typeof model !== 'string' && !(typeof kind === 'string' && capNotices.has(kind))) return undefined;
  return { model: typeof model === 'string' ? model : '', ...(plant ? { plant } : {}) };
}

/**
 * `GET /api/v1/alerts/stream[?replay=N]` with `Authorization: Bearer <token>`: the local SNS sink's alerts as
 * server-sent events, for the dashboard's live alert feed (read with fetch, so the token stays in a header and
 * out of URLs and logs). Local twin only (API Gateway HTTP APIs do not stream; in AWS the dashboard reads
 * GET /api/v1/alerts). The same rules as every route: the authorizer's checks (scope twin:read), then the
 * principal's current state (PrincipalResolver), its rate limit (opening a stream takes one request), at most
 * {@link maxStreamsPerPrincipal} open streams per person, one audit record per connection (`alerts.stream`,
 * and another when the server closes it), and only the alerts GET /api/v1/alerts would show the principal
 * ({@link alertVisibleTo}). While open, the principal is re-checked every revocation bound; a principal that
 * was deactivated, demoted below twin:read or whose key was revoked has its stream closed.
 */
export function alertStream(deps: AlertStreamDeps) {
  const open = new Map<string, number>();

  const audit = async (services: Services, req: IncomingMessage, fields: { principal?: Principal; outcome: number; errorCode?: string; requestId: string }) => {
    const p = fields.principal;
    const record: AuditRecord = {
      time: new Date().toISOString(),
      requestId: fields.requestId,
      principal: p?.id ?? 'anonymous',
      principalType: p?.type ?? 'anonymous',
      ...(p ? { role: p.role } : {}),
      ...(p?.plant ? { plant: p.plant } : {}),
      ...(p?.keyId ? { keyId: p.keyId } : {}),
      action: 'alerts.stream',
      method: 'GET',
      resource: '/api/v1/alerts/stream',
      outcome: fields.outcome,
      ...(fields.errorCode ? { errorCode: fields.errorCode } : {}),
      sourceIp: deps.clientAddress(req),
      ...(req.headers['user-agent'] ? { userAgent: String(req.headers['user-agent']).slice(0, 256) } : {}),
    };
    // As every route's record (functions/middleware/http.ts appendAudit): one the table cannot take goes to the log.
    await services
      .get(auditLog)
      .append(record)
      .catch((error: unknown) => logger.error('audit write failed; record kept in the log', { audit: record, error: error as Error }));
  };

  const refuse = (res: ServerResponse, error: AppError, requestId: string, headers: Record<string, string> = {}) => {
    if (res.destroyed) return;
    // The routes' own envelope (functions/middleware/http.ts): code, message, request id and the issues.
    const answer = errorResult(error, requestId, { 'cache-control': 'no-store', ...headers });
    res.writeHead(answer.statusCode ?? error.status, answer.headers as Record<string, string>);
    res.end(answer.body);
  };

  const serve = async (req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> => {
    const requestId = randomUUID();
    // The client may leave during any await below: noticed from the start, so a connection already gone is
    // never counted, subscribed or re-checked (it held its slot and its timers for good before).
    let gone = false;
    res.once('close', () => (gone = true));
    const token = req.headers.authorization?.replace(/^Bearer\s+/i, '').trim() ?? '';
    const verdict = await deps.authorize(token, ['twin:read']);
    if ('status' in verdict) {
      // The authorizer's own answers, as API Gateway gives them (no function ran, so no audit record).
      res.writeHead(verdict.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: verdict.status === 403 ? 'Forbidden' : 'Unauthorized' }));
      return;
    }
    // The stream ends when the token does: a token is honoured until its exp, a stream opened with it no longer.
    const expiresAtMs = Number(verdict.claims.exp) * 1000;
    const services = deps.services();
    let principal: Principal | undefined;
    let claimed: Principal | undefined;
    try {
      claimed = principalFromClaims(verdict.claims);
      principal = await services.get(principals).resolve(claimed, { fresh: false });
      if (!principal.scopes.has('twin:read')) throw new AppError('FORBIDDEN', 'This stream needs the scope twin:read');
    } catch (error) {
      if (!(error instanceof AppError)) throw error; // a store that is down: 503 below
      const app = error;
      await audit(services, req, { ...(principal ?? claimed ? { principal: (principal ?? claimed)! } : {}), outcome: app.status, errorCode: app.code, requestId });
      refuse(res, app, requestId);
      return;
    }
    const rate = await services.get(rateLimit).take(principal);
    const rateHeaders = rate ? rateLimitHeaders(rate) : {};
    if (rate && !rate.allowed) {
      await audit(services, req, { principal, outcome: 429, errorCode: 'RATE_LIMITED', requestId });
      refuse(res, new RateLimitedError(rate.resetSeconds), requestId, rateHeaders);
      return;
    }
    // After the principal and its budget, as every route validates its query (functions/middleware/http.ts).
    const parsed = alertStreamQuerySchema.safeParse(queryParameters(query));
    if (!parsed.success) {
      const list = fieldIssuesFromZod(parsed.error, 'query');
      const error = new InvalidRequestError(summarizeIssues(list), list.issues, list.total);
      await audit(services, req, { principal, outcome: 400, errorCode: error.code, requestId });
      refuse(res, error, requestId, rateHeaders);
      return;
    }
    const { replay } = parsed.data;
    if (gone) {
      // Left before the stream opened: audited (nginx's 499, "client closed request"), and nothing held for it.
      await audit(services, req, { principal, outcome: 499, errorCode: 'CLIENT_CLOSED', requestId });
      return;
    }
    const person = principal.username;
    if ((open.get(person) ?? 0) >= maxStreamsPerPrincipal) {
      await audit(services, req, { principal, outcome: 429, errorCode: 'RATE_LIMITED', requestId });
      refuse(res, new AppError('RATE_LIMITED', `At most ${maxStreamsPerPrincipal} alert streams may be open per user (with its keys); close one first`, { headers: { 'retry-after': '5' } }), requestId);
      return;
    }
    // Counted, and from here on released by close() whatever happens: set up in this same tick.
    open.set(person, (open.get(person) ?? 0) + 1);
    let current: Principal = principal;
    let closed = false;
    let unsubscribe: (() => void) | undefined;
    let keepAlive: NodeJS.Timeout | undefined;
    let recheck: NodeJS.Timeout | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      clearInterval(recheck);
      unsubscribe?.();
      const left = (open.get(person) ?? 1) - 1;
      if (left > 0) open.set(person, left);
      else open.delete(person);
    };
    res.on('close', close);
    if (gone) return close();

    const end = async (status: number, code: string, message: string) => {
      if (closed) return;
      res.write(`event: closed\ndata: ${JSON.stringify({ code, message })}\n\n`);
      close();
      // The close's audit record is stored before the stream ends, as every answer waits for its record: a
      // client that reads the audit log once the stream has ended finds it (it raced the end before).
      try {
        await audit(services, req, { principal: current, outcome: status, errorCode: code, requestId: randomUUID() });
      } finally {
        res.end();
      }
    };
    /**
     * A client that does not read: its events wait in this process's memory (the socket's buffers full). Past
     * {@link maxStreamBacklogBytes} the stream is dropped (audited) rather than buffering for as long as it stays open.
     */
    const write = (text: string) => {
      if (closed) return;
      res.write(text);
      if (res.writableLength <= maxStreamBacklogBytes) return;
      close();
      res.destroy();
      void audit(services, req, { principal: current, outcome: 429, errorCode: 'STREAM_BACKLOG', requestId: randomUUID() });
    };

    await audit(services, req, { principal, outcome: 200, requestId });
    if (closed) return;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-request-id': requestId, ...rateHeaders });
    // Headers now, not with the first alert: the client knows at once that the stream is open.
    write(': connected\n\n');
    const send = (m: SinkMessage) => {
      const event = alertOf(m);
      if (event && alertVisibleTo(current, event)) write(`id: ${m.messageId}\nevent: alert\ndata: ${JSON.stringify(m)}\n\n`);
    };
    // Its own plant's group (another plant's storm never pushes its alerts out), or every group for the platform;
    // still filtered by visibility, as the live events are.
    const visible = (await deps.sns.recentIn(current.plant === undefined ? 'all' : [current.plant], replay)).filter((m) => {
      const event = alertOf(m);
      return event !== undefined && alertVisibleTo(current, event);
    });
    if (closed) return;
    for (const m of replay > 0 ? visible.slice(-replay) : []) send(m);
    unsubscribe = deps.sns.subscribe(send);
    keepAlive = setInterval(() => write(': keep-alive\n\n'), 15_000);
    // Within the revocation bound: the principal is read fresh from the stores on every re-check.
    const period = services.get(principals).boundMs > 0 ? services.get(principals).boundMs : recheckWhenUncachedMs;
    recheck = setInterval(() => {
      if (closed) return;
      // The authorizer's clock (infra/local/jwt-authorizer.ts), as for every request the token makes.
      if (!(Date.now() < expiresAtMs)) return void end(401, 'UNAUTHORIZED', 'The token has expired: open the stream again with a fresh token');
      void services.get(principals).resolve(claimed, { fresh: true }).then(
        (now) => {
          if (closed) return;
          if (now.scopes.has('twin:read')) {
            current = now;
            return;
          }
          void end(403, 'FORBIDDEN', 'This stream needs the scope twin:read');
        },
        (error: unknown) => {
          if (closed) return;
          // A store that is down leaves the stream as it is; a refused principal closes it.
          if (error instanceof AppError && error.status < 500) void end(error.status, error.code, error.message);
        },
      );
    }, period);
  };

  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api/v1/alerts/stream' || req.method !== 'GET') return false;
    serve(req, res, url.searchParams).catch(() => {
      if (!res.headersSent) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ message: 'Service Unavailable' }));
      } else res.end();
    });
    return true;
  };
}

import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { principalFromClaims, type Principal } from '../core/auth/tokens.js';
import { AppError, ForbiddenError, InvalidRequestError, NotFoundError, RateLimitedError, summarizeIssues, type IssueList } from '../core/errors.js';
import { PendingWrites } from '../core/pending-writes.js';
import type { AuditRecord, RateDecision } from '../core/ports.js';
import { rateLimitHeaders } from '../core/rate-limit.js';
import { fieldIssuesFromZod } from '../core/zod-issues.js';
import { defaultBodyBytes } from '../body-limits.js';
import { bodyText, parseJsonBody } from '../core/json-body.js';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metricDimensions, metricNames, metrics } from '../observability.js';
import { findRouteByKey, needsFreshPrincipal, refusesKeyTokens, type RouteDef } from '../routes.js';
import { getServices, type Services } from '../services.js';
import { auditLog, principals, rateLimit } from '../services/request.js';

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type LambdaHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/** A response with a status other than 200 or with extra headers. */
export class Reply {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** A response whose body is sent as is (not JSON): `headers` must give its content-type. */
export class TextReply extends Reply {
  constructor(statusCode: number, body: string, headers: Record<string, string> & { 'content-type': string }) {
    super(statusCode, body, headers);
  }
}

/** What a handler may add to its request's audit record. */
export interface AuditNote {
  /** For unauthenticated calls: who the caller claims to be (never a secret). */
  subject?: string;
  modelVersion?: string;
}

export interface HttpInput<B> {
  body: B;
  /** Undefined only on public routes. */
  principal: Principal | undefined;
  services: Services;
  event: HttpEvent;
  requestId: string;
  sourceIp: string;
  pathParameters: Record<string, string>;
  query: Record<string, string>;
  audit: AuditNote;
  /**
   * Where the core hands the writes that follow its work (stats, served rows): the middleware awaits them with
   * the audit record, so both go out in one round and the answer leaves after both (functions/core/pending-writes.ts).
   */
  writes: PendingWrites;
}

/** What the chain learns about a request, kept on the event (as middy's own parsers do). */
interface RequestState {
  requestId: string;
  route: RouteDef | undefined;
  principal: Principal | undefined;
  rate: RateDecision | undefined;
  body: unknown;
  audit: AuditNote;
  /** The core's after-work writes, awaited with the audit record. */
  writes: PendingWrites;
  /** What a prediction answer said, for the metrics (read from the reply, not re-parsed from its JSON). */
  predictions?: PredictionSummary;
}
type StatefulEvent = HttpEvent & { twinserve: RequestState };

const jsonHeaders = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/** How a route renders errors: our envelope, or the Open Inference Protocol's `{error: string}` (docs/api.md). */
export type ErrorFormat = 'envelope' | 'oip';

/**
 * The error envelope: `{ error: { code, message, requestId, issues? }, message }`; on Open Inference Protocol
 * routes the protocol's `{ error: message }` with `code`, `requestId` and `issues` beside it. See docs/api.md.
 */
export function errorResult(error: unknown, requestId: string, extraHeaders: Record<string, string> = {}, format: ErrorFormat = 'envelope'): HttpResult {
  let app: AppError;
  if (error instanceof AppError && error.expose) {
    app = error;
    // What the client is not shown (a runtime's message, a path) stays in the log, with the request id.
    if (error.cause !== undefined) logger.warn('request refused', { requestId, code: error.code, error: error.cause as Error });
  } else if (isTransientDependencyError(error)) {
    logger.error('a backing service is unavailable', { requestId, error: error as Error });
    app = new AppError('SERVICE_UNAVAILABLE', 'A backing service is unavailable; try again shortly', { expose: true, headers: { 'retry-after': '1' } });
  } else {
    logger.error('unhandled error', { requestId, error: error as Error });
    app = new AppError('INTERNAL', 'Internal server error', { expose: true });
  }
  const payload: Record<string, unknown> = { code: app.code, message: app.message, requestId };
  if (app.issues?.length) {
    payload.issues = app.issues;
    if (app.issuesTotal > app.issues.length) Object.assign(payload, { issues_total: app.issuesTotal, issues_truncated: true });
  }
  if (app.details) Object.assign(payload, app.details);
  const { message: _message, ...fields } = payload;
  return {
    statusCode: app.status,
    headers: { ...jsonHeaders, 'x-request-id': requestId, ...extraHeaders, ...app.headers },
    body: JSON.stringify(format === 'oip' ? { error: app.message, ...fields } : { error: payload, message: app.message }),
  };
}

const transientNames = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
  'SlowDown',
  'TimeoutError',
  'RequestTimeout',
]);
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/**
 * An AWS dependency that is down, throttling or timing out (after the SDK's own retries): the client may
 * retry, so it is a 503, not a 500. A client-side fault of ours (a ValidationException) stays a 500.
 */
export function isTransientDependencyError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: string; code?: string; $fault?: string; $metadata?: unknown; cause?: unknown };
  if (e.$metadata !== undefined && (e.$fault === 'server' || transientNames.has(e.name ?? ''))) return true;
  if (networkCodes.has(e.code ?? '') || transientNames.has(e.name ?? '')) return true;
  return e.cause !== undefined && e.cause !== error && isTransientDependencyError(e.cause);
}

function header(event: HttpEvent, name: string): string | undefined {
  return event.headers?.[name] ?? event.headers?.[name.toLowerCase()];
}

function parseBody(event: HttpEvent, allowForm: boolean, maxBytes: number | undefined): unknown {
  const contentType = (header(event, 'content-type') ?? '').trim();
  const text = bodyText({ body: event.body, isBase64Encoded: event.isBase64Encoded, contentType, contentEncoding: header(event, 'content-encoding'), maxBytes });
  if (text === undefined) return undefined;
  if (allowForm && /^application\/x-www-form-urlencoded\b/i.test(contentType)) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json${allowForm ? ' or application/x-www-form-urlencoded' : ''}`, {
      issues: [{ field: 'content-type', rule: 'media_type', message: 'send the body as application/json' }],
    });
  }
  return parseJsonBody(text);
}

function validate(schema: z.ZodType, raw: unknown, what: 'body' | 'query'): unknown {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const list: IssueList =
    raw === undefined ? { issues: [{ field: what, rule: 'required', message: `a JSON ${what} is required` }], total: 1 } : fieldIssuesFromZod(parsed.error, what === 'query' ? 'query' : '');
  throw new InvalidRequestError(summarizeIssues(list), list.issues, list.total);
}

export interface HttpOptions<S extends z.ZodType, Q extends z.ZodType> {
  /** Validates the parsed body; without it the handler receives the parsed JSON as `unknown`. */
  body?: S;
  /** Validates the query string parameters. */
  query?: Q;
  /** Also accept `application/x-www-form-urlencoded` (the OAuth2 token endpoint). */
  form?: boolean;
  /** Refuse larger bodies (413) before decoding or parsing them (functions/contracts.ts `maxBodyBytes`). @default defaultBodyBytes */
  maxBodyBytes?: number;
  /** @default 'envelope' */
  errors?: ErrorFormat;
  /** The answer's schema, when the options are a route contract (functions/contracts.ts): documented, not checked here. */
  response?: z.ZodType;
}

/** A route's handler, remembering the options (validators) it was built with: the contract tests compare them. */
export type RouteHandler = LambdaHandler & { readonly options: HttpOptions<z.ZodType, z.ZodType> };

/** Who/what/outcome of one request. Never holds bodies, passwords, keys or tokens. */
function auditRecord(event: StatefulEvent, statusCode: number, errorCode: string | undefined): AuditRecord {
  const state = event.twinserve;
  const principal = state.principal;
  const http = event.requestContext?.http;
  return {
    time: new Date(event.requestContext?.timeEpoch ?? Date.now()).toISOString(),
    requestId: state.requestId,
    principal: principal?.id ?? 'anonymous',
    principalType: principal?.type ?? 'anonymous',
    ...(principal ? { role: principal.role } : {}),
    ...(principal?.plant ? { plant: principal.plant } : {}),
    ...(principal?.keyId ? { keyId: principal.keyId } : {}),
    ...(state.audit.subject ? { subject: state.audit.subject.slice(0, 128) } : {}),
    action: state.route?.action ?? 'unknown',
    method: http?.method ?? 'UNKNOWN',
    resource: (event.rawPath ?? http?.path ?? '').slice(0, 512),
    outcome: statusCode,
    ...(errorCode ? { errorCode } : {}),
    ...(http?.sourceIp ? { sourceIp: http.sourceIp } : {}),
    ...(http?.userAgent ? { userAgent: http.userAgent.slice(0, 256) } : {}),
    ...(state.audit.modelVersion ? { modelVersion: state.audit.modelVersion } : {}),
  };
}

/**
 * The shared middy chain. Before: request id, route, claims -> the principal's current state (active, role,
 * plant, key not revoked: PrincipalResolver; fresh on administration routes), the route's scopes re-checked
 * from the route table against it, the principal's rate limit, JSON body and zod validation. Then one call into the
 * core. Errors become the envelope. Last, exactly one audit record per invocation, written before the
 * function returns; if the audit table cannot take it, the record goes to the log (never lost silently). The
 * writes the core handed over (`writes`: stats, served rows) are awaited together with it, not before it.
 */
export function http<S extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown>(options: HttpOptions<S, Q> = {}) {
  return {
    handler(fn: (input: HttpInput<z.infer<S>> & { query: Q extends z.ZodUnknown ? Record<string, string> : z.infer<Q> }) => Promise<unknown>): RouteHandler {
      const chain = middy<StatefulEvent, HttpResult, Error, Context>()
        .use({
          before: async (request) => {
            const event = request.event;
            const state = event.twinserve;
            const route = findRouteByKey(event.routeKey);
            state.route = route;
            if (!route) throw new NotFoundError(`No route ${event.routeKey}`);
            if (route.auth !== 'public') {
              const claimed = principalFromClaims(event.requestContext.authorizer?.jwt?.claims);
              state.principal = claimed; // the audit record names who tried, even when refused below
              // What no token of this kind may do is refused before any store read.
              if (claimed.type === 'key' && refusesKeyTokens(route)) throw new ForbiddenError('API keys cannot manage users or keys');
              // The claims say what held at sign-in; the principal's current state decides (active, role, plant, key).
              const principal = await getServices().get(principals).resolve(claimed, { fresh: needsFreshPrincipal(route) });
              state.principal = principal;
              if (!route.auth.scopes.some((s) => principal.scopes.has(s))) {
                throw new ForbiddenError(`This route needs one of the scopes: ${route.auth.scopes.join(', ')}`);
              }
              state.rate = await getServices().get(rateLimit).take(principal);
              if (state.rate && !state.rate.allowed) throw new RateLimitedError(state.rate.resetSeconds);
            }
            const raw = parseBody(event, options.form ?? false, options.maxBodyBytes ?? defaultBodyBytes);
            state.body = options.body ? validate(options.body, raw, 'body') : raw;
          },
          onError: (request) => {
            const state = request.event.twinserve;
            request.response = errorResult(request.error, state.requestId, state.rate ? rateLimitHeaders(state.rate) : {}, options.errors);
          },
        })
        .handler(async (event) => {
          const state = event.twinserve;
          const query = options.query ? validate(options.query, event.queryStringParameters ?? {}, 'query') : (event.queryStringParameters ?? {});
          const result = await fn({
            body: state.body as z.infer<S>,
            principal: state.principal,
            services: getServices(),
            event,
            requestId: state.requestId,
            sourceIp: event.requestContext?.http?.sourceIp ?? 'unknown',
            pathParameters: (event.pathParameters ?? {}) as Record<string, string>,
            query: query as never,
            audit: state.audit,
            writes: state.writes,
          });
          const reply = result instanceof Reply ? result : new Reply(200, result);
          const summary = predictionsOf(reply.body);
          if (summary) {
            state.audit.modelVersion ??= summary.version;
            // Health answers name a model version too; only predicting routes count predictions.
            if (state.route && predictionActions.has(state.route.action)) state.predictions = summary;
          }
          return {
            statusCode: reply.statusCode,
            headers: { ...jsonHeaders, 'x-request-id': state.requestId, ...(state.rate ? rateLimitHeaders(state.rate) : {}), ...reply.headers },
            body: reply.statusCode === 204 ? '' : reply instanceof TextReply ? String(reply.body) : JSON.stringify(reply.body),
          };
        });

      const lambda: LambdaHandler = async (event, context) => {
        const stateful = event as StatefulEvent;
        stateful.twinserve = {
          requestId: event.requestContext?.requestId ?? context.awsRequestId,
          route: undefined,
          principal: undefined,
          rate: undefined,
          body: undefined,
          audit: {},
          writes: new PendingWrites(),
        };
        const started = performance.now();
        const result = await chain(stateful, context);
        const status = result.statusCode ?? 200;
        const errorCode = status >= 400 ? readErrorCode(result.body) : undefined;
        const record = auditRecord(stateful, status, errorCode);
        // The audit record goes out with the core's after-work writes (one round), and the answer waits for all.
        const [, escaped] = await Promise.all([appendAudit(record), stateful.twinserve.writes.settled()]);
        // Each after-work write settles its own failures (counted and logged); anything escaping that is a bug, logged here.
        for (const error of escaped) logger.error('after-work write failed', { requestId: stateful.twinserve.requestId, error: error as Error });
        observe(stateful, status, errorCode, performance.now() - started);
        return result;
      };
      return Object.assign(lambda, { options: options as HttpOptions<z.ZodType, z.ZodType> });
    },
  };
}

/** Appends a request's audit record; if the audit table cannot take it, the record goes to the log. Never rejects. */
async function appendAudit(record: AuditRecord): Promise<void> {
  try {
    await getServices().get(auditLog).append(record);
  } catch (error) {
    // The request has happened; its record must not vanish. CloudWatch Logs keeps it (see docs/security.md).
    logger.error('audit write failed; record kept in the log', { audit: record, error: error as Error });
  }
}

/**
 * One structured log line and the EMF metrics per request (Powertools). The log line carries who, where and
 * how long, never bodies or secrets. Metrics are published once per invocation; predictions per model
 * version carry their own dimensions. Observability never fails a request.
 */
function observe(event: StatefulEvent, status: number, errorCode: string | undefined, latencyMs: number): void {
  try {
    const state = event.twinserve;
    logger.info('request', {
      requestId: state.requestId,
      route: event.routeKey,
      status,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      principal: state.principal?.id ?? 'anonymous',
      ...(state.principal?.plant ? { plant: state.principal.plant } : {}),
      ...(state.audit.modelVersion ? { modelVersion: state.audit.modelVersion } : {}),
      ...(errorCode ? { errorCode } : {}),
    });
    metrics.addMetric(metricNames.requests, MetricUnit.Count, 1);
    metrics.addMetric(metricNames.latency, MetricUnit.Milliseconds, latencyMs);
    if (status >= 500) metrics.addMetric(metricNames.errors, MetricUnit.Count, 1);
    if (status === 429) metrics.addMetric(metricNames.rateLimited, MetricUnit.Count, 1);
    const predictions = state.predictions;
    if (status < 400 && state.audit.modelVersion && predictions) {
      if (predictions.fromCache) metrics.addMetric(metricNames.modelCacheHits, MetricUnit.Count, 1);
      const single = predictionMetrics();
      single.addDimension(metricDimensions.model, predictions.model);
      single.addDimension(metricDimensions.modelVersion, state.audit.modelVersion);
      // A single-metric instance publishes here and clears its dimensions, so it is reused per request.
      single.addMetric(metricNames.predictions, MetricUnit.Count, predictions.rows);
    }
    metrics.publishStoredMetrics();
  } catch {
    // Never let telemetry fail a request.
  }
}

let predictionsBlob: ReturnType<typeof metrics.singleMetric> | undefined;

/**
 * The per-model-version Predictions blob: one single-metric instance per container. `singleMetric()` builds
 * a new Metrics each call (a new Console, the environment read again): most of the metrics' cost per request.
 */
function predictionMetrics(): ReturnType<typeof metrics.singleMetric> {
  predictionsBlob ??= metrics.singleMetric();
  return predictionsBlob;
}

/** The route actions (functions/routes.ts) whose answers are predictions. */
export const predictionActions: ReadonlySet<string> = new Set(['twin.predict', 'twin.batch', 'twin.infer']);

/** What a prediction answer says about itself, for the metrics and the audit record. */
export interface PredictionSummary {
  version: string;
  rows: number;
  fromCache: boolean;
  model: string;
}

/**
 * Reads a prediction answer: top level (`/api/v1/twin/predict`, batch, OIP) or nested under `result` (the
 * chapter's `POST /predict`: `{success, result: {...}, request_id}`). Anything without a model version is
 * not a prediction.
 */
export function predictionsOf(body: unknown): PredictionSummary | undefined {
  type Answer = { model_version?: unknown; successful?: unknown; from_cache?: unknown; model?: { name?: unknown }; result?: unknown } | null;
  const top = (typeof body === 'object' ? body : null) as Answer;
  const nested = (typeof top?.result === 'object' ? top.result : null) as Answer;
  const answer = typeof top?.model_version === 'string' ? top : typeof nested?.model_version === 'string' ? nested : null;
  if (!answer) return undefined;
  return {
    version: answer.model_version as string,
    rows: typeof answer.successful === 'number' ? answer.successful : 1,
    fromCache: answer.from_cache === true,
    model: typeof answer.model?.name === 'string' ? answer.model.name : 'unknown',
  };
}

function readErrorCode(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown } | string; code?: unknown };
    // The envelope's error.code; on Open Inference Protocol routes `error` is the message and `code` its sibling.
    const code = typeof parsed.error === 'object' && parsed.error !== null ? parsed.error.code : parsed.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A function serving several routes picks the route's handler by API Gateway's `routeKey`. `routes` keeps
 * the map, so the contract tests can check each route's validators against functions/contracts.ts.
 */
export function byRoute<H extends Record<string, RouteHandler>>(handlers: H): LambdaHandler & { readonly routes: H } {
  const dispatch: LambdaHandler = async (event, context) => {
    const handler = handlers[event.routeKey];
    if (!handler) return errorResult(new NotFoundError(`No route ${event.routeKey}`), event.requestContext?.requestId ?? context.awsRequestId);
    return handler(event, context);
  };
  return Object.assign(dispatch, { routes: handlers });
}

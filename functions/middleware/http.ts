import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { findRouteByKey } from '../../infra/routes.js';
import { principalFromClaims, type Principal } from '../core/auth/tokens.js';
import { AppError, ForbiddenError, InvalidRequestError, NotFoundError, type FieldIssue } from '../core/errors.js';
import { fieldIssuesFromZod } from '../core/zod-issues.js';
import { logger } from '../observability.js';
import { getServices, type Services } from '../services.js';

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

export interface HttpInput<B> {
  body: B;
  /** Undefined only on public routes. */
  principal: Principal | undefined;
  services: Services;
  event: HttpEvent;
  requestId: string;
}

/** What the chain's `before` step adds to the event for the handler (as middy's own parsers do). */
interface Parsed {
  requestId: string;
  body: unknown;
  principal: Principal | undefined;
}
type ParsedEvent = HttpEvent & { twinserve: Parsed };

const jsonHeaders = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/** The error envelope: `{ error: { code, message, requestId, issues? }, message }`. See docs/api.md. */
export function errorResult(error: unknown, requestId: string): HttpResult {
  let app: AppError;
  if (error instanceof AppError && error.expose) {
    app = error;
  } else {
    logger.error('unhandled error', { requestId, error: error as Error });
    app = new AppError('INTERNAL', 'Internal server error', { expose: true });
  }
  const payload: Record<string, unknown> = { code: app.code, message: app.message, requestId };
  if (app.issues?.length) payload.issues = app.issues;
  if (app.details) Object.assign(payload, app.details);
  return {
    statusCode: app.status,
    headers: { ...jsonHeaders, 'x-request-id': requestId, ...app.headers },
    body: JSON.stringify({ error: payload, message: app.message }),
  };
}

function header(event: HttpEvent, name: string): string | undefined {
  return event.headers?.[name] ?? event.headers?.[name.toLowerCase()];
}

function parseJsonBody(event: HttpEvent): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json', {
      issues: [{ field: 'content-type', rule: 'media_type', message: 'send the body as application/json' }],
    });
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidRequestError(`body is not valid JSON: ${(error as Error).message}`, [
      { field: 'body', rule: 'json', message: 'body must be valid JSON' },
    ]);
  }
}

export interface HttpOptions<S extends z.ZodType> {
  /** Validates the parsed JSON body; without it the handler receives the parsed JSON as `unknown`. */
  body?: S;
}

/**
 * The shared middy chain: request id, JSON body, zod validation, claims -> principal (and the route's
 * scopes re-checked from the route table), then one call into the core; errors become the envelope.
 */
export function http<S extends z.ZodType = z.ZodUnknown>(options: HttpOptions<S> = {}) {
  return {
    handler(fn: (input: HttpInput<z.infer<S>>) => Promise<unknown>): LambdaHandler {
      const chain = middy<ParsedEvent, HttpResult, Error, Context>()
        .use({
          before: (request) => {
            request.event.twinserve = parseRequest(request.event, request.context, options.body);
          },
          onError: (request) => {
            const requestId = request.event.requestContext?.requestId ?? request.context.awsRequestId;
            request.response = errorResult(request.error, requestId);
          },
        })
        .handler(async (event) => {
          const { requestId, body, principal } = event.twinserve;
          const result = await fn({ body: body as z.infer<S>, principal, services: getServices(), event, requestId });
          const reply = result instanceof Reply ? result : new Reply(200, result);
          return {
            statusCode: reply.statusCode,
            headers: { ...jsonHeaders, 'x-request-id': requestId, ...reply.headers },
            body: JSON.stringify(reply.body),
          };
        });
      return chain as unknown as LambdaHandler;
    },
  };
}

function parseRequest(event: HttpEvent, context: Context, schema: z.ZodType | undefined): Parsed {
  const requestId = event.requestContext?.requestId ?? context.awsRequestId;
  const route = findRouteByKey(event.routeKey);
  if (!route) throw new NotFoundError(`No route ${event.routeKey}`);
  let principal: Principal | undefined;
  if (route.auth !== 'public') {
    principal = principalFromClaims(event.requestContext.authorizer?.jwt?.claims);
    if (!route.auth.scopes.some((s) => principal!.scopes.has(s))) {
      throw new ForbiddenError(`This route needs one of the scopes: ${route.auth.scopes.join(', ')}`);
    }
  }
  const raw = parseJsonBody(event);
  if (!schema) return { requestId, body: raw, principal };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues: FieldIssue[] =
      raw === undefined ? [{ field: 'body', rule: 'required', message: 'a JSON body is required' }] : fieldIssuesFromZod(parsed.error);
    throw new InvalidRequestError(issues.map((i) => i.message).join('; '), issues);
  }
  return { requestId, body: parsed.data, principal };
}

/** A function serving several routes picks the route's handler by API Gateway's `routeKey`. */
export function byRoute(handlers: Record<string, LambdaHandler>): LambdaHandler {
  return async (event, context) => {
    const handler = handlers[event.routeKey];
    if (!handler) return errorResult(new NotFoundError(`No route ${event.routeKey}`), event.requestContext?.requestId ?? context.awsRequestId);
    return handler(event, context);
  };
}

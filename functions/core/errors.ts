/**
 * Domain errors. Every error a client may see is an AppError with a stable code; the code alone decides
 * the HTTP status (one exhaustive switch, {@link statusForCode}). Anything that is not an AppError is an
 * internal error: logged in full, shown to the client as a generic 500 with the request id.
 */

export const errorCodes = [
  'INVALID_REQUEST',
  'INVALID_INPUT',
  'BATCH_TOO_LARGE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'INVALID_CREDENTIALS',
  'UNAUTHORIZED',
  'KEY_MALFORMED',
  'KEY_INVALID',
  'KEY_EXPIRED',
  'KEY_REVOKED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'RATE_LIMITED',
  'MODEL_NOT_FOUND',
  'MODEL_INVALID',
  'MODEL_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** The one place where a code becomes an HTTP status. */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_REQUEST':
    case 'INVALID_INPUT':
    case 'BATCH_TOO_LARGE':
      return 400;
    case 'INVALID_CREDENTIALS':
    case 'UNAUTHORIZED':
    case 'KEY_MALFORMED':
    case 'KEY_INVALID':
    case 'KEY_EXPIRED':
    case 'KEY_REVOKED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
    case 'MODEL_NOT_FOUND':
      return 404;
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'CONFLICT':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'MODEL_INVALID':
      return 422;
    case 'RATE_LIMITED':
      return 429;
    case 'MODEL_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE':
      return 503;
    case 'INTERNAL':
      return 500;
  }
}

/** One problem with one field of a request: where (a path such as `inputs.3.temp`) and which rule. */
export interface FieldIssue {
  field: string;
  rule: string;
  message: string;
}

/**
 * Error amplification bounds (issue 13, finding 8): an answer never grows with the request. At most
 * {@link maxIssues} issues are kept (the count of all goes in `issues_total`), each field and message is
 * clipped, and so is the error's message. Validators stop collecting once they hold `maxIssues`.
 */
export const maxIssues = 20;
export const maxMessageLength = 512;
const maxIssueFieldLength = 128;
const maxIssueMessageLength = 256;

/** `text` cut to `max` characters (an ellipsis marks the cut). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The issues an error keeps: the first {@link maxIssues}, each clipped. */
export function capIssues(issues: readonly FieldIssue[]): FieldIssue[] {
  return issues.slice(0, maxIssues).map((i) => ({
    field: clip(i.field, maxIssueFieldLength),
    rule: clip(i.rule, 64),
    message: clip(i.message, maxIssueMessageLength),
  }));
}

/** Issues found, up to a limit, and how many there were in all (`total` ≥ `issues.length`). */
export interface IssueList {
  issues: FieldIssue[];
  total: number;
}

/** One line for a message: the first issues' messages and how many more there were. */
export function summarizeIssues(list: IssueList, shown = 3): string {
  const parts = list.issues.slice(0, shown).map((i) => i.message);
  if (list.total > parts.length) parts.push(`and ${list.total - parts.length} more`);
  return parts.join('; ');
}

export interface AppErrorOptions {
  /** Whether `message` may be shown to a client. Internal errors never are. */
  expose?: boolean;
  details?: Record<string, unknown>;
  issues?: FieldIssue[];
  /** How many issues there were in all, when `issues` holds only the first of them. */
  issuesTotal?: number;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details: Record<string, unknown> | undefined;
  readonly issues: FieldIssue[] | undefined;
  /** Every issue found, counted (`issues` holds at most {@link maxIssues}). */
  readonly issuesTotal: number;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(clip(message, maxMessageLength), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = statusForCode(code);
    this.expose = options.expose ?? (this.status < 500 || code === 'MODEL_UNAVAILABLE' || code === 'SERVICE_UNAVAILABLE');
    this.details = options.details;
    this.issues = options.issues ? capIssues(options.issues) : undefined;
    this.issuesTotal = Math.max(options.issuesTotal ?? 0, options.issues?.length ?? 0);
    this.headers = options.headers;
  }
}

export class InvalidRequestError extends AppError {
  constructor(message: string, issues?: FieldIssue[], issuesTotal?: number) {
    super('INVALID_REQUEST', message, { issues, ...(issuesTotal === undefined ? {} : { issuesTotal }) });
  }
}

export class InvalidInputError extends AppError {
  constructor(message: string, issues: FieldIssue[], issuesTotal?: number) {
    super('INVALID_INPUT', message, { issues, ...(issuesTotal === undefined ? {} : { issuesTotal }) });
  }
}

export class BatchTooLargeError extends AppError {
  constructor(size: number, limit: number) {
    super('BATCH_TOO_LARGE', `Batch size limit: ${limit} (got ${size} inputs)`, {
      issues: [{ field: 'inputs', rule: 'max_items', message: `at most ${limit} inputs per batch, got ${size}` }],
    });
  }
}

export class InvalidCredentialsError extends AppError {
  constructor() {
    super('INVALID_CREDENTIALS', 'Invalid credentials');
  }
}

/** An API key that cannot be exchanged for a token; the code says why (malformed, invalid, expired, revoked). */
export class ApiKeyRejectedError extends AppError {
  constructor(code: 'KEY_MALFORMED' | 'KEY_INVALID' | 'KEY_EXPIRED' | 'KEY_REVOKED', message: string) {
    super(code, message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, issues?: FieldIssue[]) {
    super('CONFLICT', message, { issues });
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Unauthorized') {
    super('UNAUTHORIZED', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Forbidden', issues?: FieldIssue[]) {
    super('FORBIDDEN', message, { issues });
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super('NOT_FOUND', message);
  }
}

export class ModelNotFoundError extends AppError {
  constructor(name: string, version?: string) {
    super('MODEL_NOT_FOUND', version ? `Model ${name}@${version} not found` : `Model ${name} not found`);
  }
}

/** A model package that exists but cannot be used: bad manifest, digest mismatch, unloadable graph. */
export class ModelInvalidError extends AppError {
  /** `reason` is shown to clients: it names the rule broken, never a server path or runtime internals (those go in `cause`, which is logged). */
  constructor(packageRef: string, reason: string, cause?: unknown, issues?: FieldIssue[]) {
    super('MODEL_INVALID', `Model package ${packageRef} is invalid: ${reason}`, { cause, issues });
  }
}

export class ModelUnavailableError extends AppError {
  constructor(message: string, cause?: unknown) {
    super('MODEL_UNAVAILABLE', message, { cause });
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super('RATE_LIMITED', 'Rate limit exceeded', {
      details: { retry_after_seconds: retryAfterSeconds },
      headers: { 'retry-after': String(retryAfterSeconds), ...headers },
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, cause?: unknown) {
    super('SERVICE_UNAVAILABLE', message, { cause });
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

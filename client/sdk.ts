/**
 * The Twinserve SDK: a typed client for every route, in Node 20+ and the browser (it needs only `fetch`,
 * `AbortController` and timers, and imports nothing at run time). Request and response types are generated
 * from the zod schemas the handlers validate with (functions/contracts.ts → api-types.ts, checked by a
 * test), so the client cannot drift from the API either. Built as the package `@twinserve/client`.
 *
 * - Log in with a password or an API key; the token is renewed before it expires (and once after a 401).
 * - 429s are retried after Retry-After; 5xx and network failures of idempotent calls with jittered
 *   exponential backoff; both bounded (retries, and the longest wait).
 * - Each attempt has a timeout. Failures are {@link TwinApiError}s with code, status and request id.
 * - `batch` takes any number of rows and sends them in chunks of 100.
 */
// Every name of route-types.ts is the SDK's; the other modules also hold helpers the SDK does not export.
export * from './sdk/route-types.js';
export { parseRetryAfter, TwinApiError, type ClientErrorCode, type FieldIssue } from './sdk/errors.js';
export type { CallOptions, TokenState, TwinClientOptions } from './sdk/transport.js';
export { base64ToBytes, bytesToBase64, inlinePublishMaxBytes, TwinClient } from './sdk/twin-client.js';

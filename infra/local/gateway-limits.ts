/** The limits the local gateway keeps: API Gateway HTTP API's, and Lambda's synchronous invocation payloads. */
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

/** Whether a handler's result is over Lambda's response limit (cheap unless its body is large). */
export function resultTooLarge(result: unknown): boolean {
  const body = typeof result === 'object' && result !== null && 'body' in result ? (result as { body?: unknown }).body : undefined;
  if (typeof body === 'string' && body.length < lambdaMaxResultBytes / 2) return false;
  return Buffer.byteLength(JSON.stringify(result ?? null)) > lambdaMaxResultBytes;
}

import { request, type IncomingHttpHeaders } from 'node:http';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lambdaMaxEventBytes, lambdaMaxResultBytes, LocalGateway, type GatewayOptions, type LambdaHandler } from '../../infra/local/gateway.js';
import { functionNames, type FunctionName } from '../../functions/routes.js';

/**
 * The local gateway's own limits, against API Gateway HTTP API's documented ones: a 10 MB payload (above it:
 * 413 {"message":"Request Entity Too Large"}) and a 30 s integration timeout (then 503
 * {"message":"Service Unavailable"}). Unit level: LocalGateway with fake handlers, no stores.
 */

const MiB = 1024 * 1024;
/** A public route (no authorizer in the way) served by the `auth` function. */
const publicPost = '/api/v1/auth/login';

let gateway: LocalGateway | undefined;

afterEach(async () => {
  vi.useRealTimers();
  await gateway?.close();
  gateway = undefined;
});

async function startGateway(handler: LambdaHandler, options: Partial<GatewayOptions> = {}): Promise<string> {
  const handlers = Object.fromEntries(functionNames.map((name) => [name, handler])) as Record<FunctionName, LambdaHandler>;
  gateway = new LocalGateway({ handlers, issuer: () => 'http://127.0.0.1:1', audience: 'unit', port: 0, ...options });
  return gateway.listen();
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request over node:http (not fetch: the timeout test fakes the global timers). */
function send(url: string, path: string, body: Buffer | undefined, { chunked = false } = {}): Promise<RawResponse> {
  const target = new URL(path, url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (body && !chunked) headers['content-length'] = String(body.length);
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body && chunked) {
      // Several writes without a length: the gateway must count what arrives.
      for (let offset = 0; offset < body.length; offset += MiB) req.write(body.subarray(offset, offset + MiB));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** A handler that answers with the size of the body it received. */
function echoSize(calls: APIGatewayProxyEventV2WithJWTAuthorizer[]): LambdaHandler {
  return async (event) => {
    calls.push(event);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bytes: Buffer.byteLength(event.body ?? '', 'utf8') }) };
  };
}

describe('payload limit (API Gateway HTTP API: 10 MB)', () => {
  it.each([
    ['with a Content-Length', false],
    ['chunked, without a length', true],
  ])('without Lambda behind it, a body of exactly 10 MiB reaches the function (%s)', async (_how, chunked) => {
    const calls: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
    // Lambda's 6 MB binds first (below); the edge twin, a long-lived process, has only API Gateway's limit.
    const url = await startGateway(echoSize(calls), { lambdaPayloadLimits: false });
    const res = await send(url, publicPost, Buffer.alloc(10 * MiB, 0x61), { chunked });
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ bytes: 10 * MiB });
    expect(calls).toHaveLength(1);
  });

  it.each([
    ['with a Content-Length', false],
    ['chunked, without a length', true],
  ])('by default one byte more is 413 {"message":"Request Entity Too Large"} and never reaches the function (%s)', async (_how, chunked) => {
    const calls: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
    const url = await startGateway(echoSize(calls));
    const res = await send(url, publicPost, Buffer.alloc(10 * MiB + 1, 0x61), { chunked });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ message: 'Request Entity Too Large' });
    expect(res.headers['apigw-requestid']).toBeTruthy();
    expect(calls).toHaveLength(0);
  });

  it('maxBodyBytes moves the limit', async () => {
    const calls: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
    const url = await startGateway(echoSize(calls), { maxBodyBytes: 100 });
    expect((await send(url, publicPost, Buffer.alloc(100, 0x61))).status).toBe(200);
    expect((await send(url, publicPost, Buffer.alloc(101, 0x61))).status).toBe(413);
    expect(calls).toHaveLength(1);
  });
});

describe("Lambda's payload limits (6 MB event, 6 MB + 100 bytes result)", () => {
  it('a body that keeps the event under 6 MiB reaches the function', async () => {
    const calls: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
    const url = await startGateway(echoSize(calls));
    const res = await send(url, publicPost, Buffer.alloc(lambdaMaxEventBytes - 64 * 1024, 0x61));
    expect(res.status, res.text).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('an event over 6 MiB is 413 {"message":"Request Entity Too Large"} and never reaches the function', async () => {
    const calls: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
    const url = await startGateway(echoSize(calls));
    const res = await send(url, publicPost, Buffer.alloc(lambdaMaxEventBytes, 0x61));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ message: 'Request Entity Too Large' });
    expect(calls).toHaveLength(0);
  });

  it("a result over the limit is API Gateway's 500 {\"message\":\"Internal Server Error\"}, nothing of the body", async () => {
    const url = await startGateway(async () => ({ statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(lambdaMaxResultBytes) }));
    const res = await send(url, publicPost, undefined);
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toEqual({ message: 'Internal Server Error' });
  });
});

describe('integration timeout (API Gateway HTTP API: 30 s, then 503)', () => {
  it('a function that never answers gets 503 {"message":"Service Unavailable"} at the timeout', async () => {
    let invoked = 0;
    const url = await startGateway(
      () => {
        invoked += 1;
        return new Promise<never>(() => undefined);
      },
      { timeoutMs: 50 },
    );
    const res = await send(url, publicPost, Buffer.from('{}'));
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text)).toEqual({ message: 'Service Unavailable' });
    expect(res.headers['apigw-requestid']).toBeTruthy();
    expect(invoked).toBe(1);
  });

  it('the default timeout is 30 000 ms: no answer at 29 999 ms, 503 at 30 000 ms (fake clock)', async () => {
    // The default (`apiGatewayTimeoutMs`, infra/local/gateway-limits.ts) is pinned by behaviour, on a fake clock, so
    // API Gateway's 30 s stays the gateway's whatever the constant says: nothing here depends on real time.
    let markInvoked!: () => void;
    const invoked = new Promise<void>((resolve) => (markInvoked = resolve));
    const url = await startGateway(() => {
      markInvoked();
      return new Promise<never>(() => undefined);
    });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let settled = false;
    const response = send(url, publicPost, Buffer.from('{}')).finally(() => (settled = true));
    await invoked;
    vi.advanceTimersByTime(29_999);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    vi.advanceTimersByTime(1);
    const res = await response;
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text)).toEqual({ message: 'Service Unavailable' });
  });

  it('the context tells the function how long it has left, counting down from the timeout', async () => {
    let remaining = -1;
    const url = await startGateway(
      async (_event, context) => {
        remaining = context.getRemainingTimeInMillis();
        return { statusCode: 204 };
      },
      { timeoutMs: 5_000 },
    );
    expect((await send(url, publicPost, Buffer.from('{}'))).status).toBe(204);
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(5_000);
  });

  it('a function that throws gets API Gateway’s 500 {"message":"Internal Server Error"}, nothing of the error', async () => {
    const url = await startGateway(async () => {
      throw new Error('secret internal detail at /work/main/functions/x.ts:1:1');
    });
    const { result: res, stderr } = await withStderr(() => send(url, publicPost, Buffer.from('{}')));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text)).toEqual({ message: 'Internal Server Error' });
    expect(stderr).toContain('lambda invocation failed');
  });
});

/** Runs `fn` with process.stderr captured (the gateway logs invocation failures there). */
async function withStderr<T>(fn: () => Promise<T>): Promise<{ result: T; stderr: string }> {
  const original = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    stderr += String(chunk);
    rest.find((r): r is () => void => typeof r === 'function')?.();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { result: await fn(), stderr };
  } finally {
    process.stderr.write = original;
  }
}

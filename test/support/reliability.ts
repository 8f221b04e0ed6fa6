import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { expect } from 'vitest';
import type { FaultMode, FaultProxy } from '../../infra/local/fault-proxy.js';
import { createTableInput, localTableName } from '../../infra/local/seed.js';
import { startLocalTwin, type LocalTwin } from '../../infra/local/twin.js';
import { tables, type TableDef } from '../../infra/tables.js';
import { adminPassword, startTestTwin, type ApiResponse, type TestTwin, type TestTwinOptions } from './twin.js';

/**
 * Helpers for the reliability, property and store tests (test/reliability, test/property, test/stores), on
 * top of test/support/twin.ts: a twin with the fault proxies switched on, the CreateTable input of a table
 * in infra/tables.ts, dropping and re-creating one table, capturing the functions' structured log, a
 * scripted fault proxy that counts the requests it sees, and the "no internals in a response" check.
 */

/** A local twin with fault proxies in front of DynamoDB and S3 (and the SNS sink's switch); fresh temp dir. */
export async function startFaultTwin(
  env: Record<string, string> = {},
  options: Pick<TestTwinOptions, 'dynamoDbRetryStrategy'> = {},
): Promise<TestTwin & { faults: NonNullable<LocalTwin['faults']> }> {
  const t = await startTestTwin({ ...options, env, faults: true, dashboardDir: false });
  const faults = t.twin.faults;
  if (!faults) {
    await t.stop();
    throw new Error('the twin started without fault proxies');
  }
  return { ...t, faults };
}

// ---------------------------------------------------------------------------------------------------------
// Tables

/** The CreateTable input of one table, exactly as the local twin creates it. */
export { createTableInput };

export function tableDef(id: string): TableDef {
  const table = tables.find((t) => t.id === id);
  if (!table) throw new Error(`infra/tables.ts has no table ${id}`);
  return table;
}

/** A raw client on the embedded DynamoDB itself (behind no fault proxy). */
export function directDynamoDb(twin: LocalTwin): DynamoDBClient {
  return new DynamoDBClient({
    region: 'us-east-1',
    endpoint: twin.dynamodbEndpoint,
    credentials: twin.storeCredentials,
    maxAttempts: 1,
  });
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Drops one table of the twin (its items are lost): the store "cannot take" what is sent to that table. */
export async function dropTable(twin: LocalTwin, id: string): Promise<void> {
  const client = directDynamoDb(twin);
  const name = localTableName(tableDef(id));
  try {
    await client.send(new DeleteTableCommand({ TableName: name }));
    await waitFor(
      () =>
        client.send(new DescribeTableCommand({ TableName: name })).then(
          () => false,
          (error: unknown) => error instanceof ResourceNotFoundException,
        ),
      `${name} to be deleted`,
    );
  } finally {
    client.destroy();
  }
}

/** Creates the table again, empty, as the local twin's seed creates it. */
export async function recreateTable(twin: LocalTwin, id: string): Promise<void> {
  const client = directDynamoDb(twin);
  const table = tableDef(id);
  try {
    await client.send(new CreateTableCommand(createTableInput(table)));
    await waitFor(
      async () => (await client.send(new DescribeTableCommand({ TableName: localTableName(table) }))).Table?.TableStatus === 'ACTIVE',
      `${table.id} to be active`,
    );
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The functions' log

/** One parsed structured log line (Powertools JSON). */
export type LogLine = Record<string, unknown> & { level?: string; message?: string };

export const auditFallbackMessage = 'audit write failed; record kept in the log';

/**
 * Captures what the process writes to stdout and stderr (where the functions' structured logger writes, as
 * CloudWatch Logs receives it in Lambda) while started; nothing is passed through.
 */
export class LogCapture {
  readonly lines: string[] = [];
  private readonly restores: (() => void)[] = [];

  start(): this {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      let pending = '';
      const capture = (chunk: unknown, ...rest: unknown[]): boolean => {
        pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
        for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
          this.lines.push(pending.slice(0, i));
          pending = pending.slice(i + 1);
        }
        const callback = rest.find((r): r is () => void => typeof r === 'function');
        callback?.();
        return true;
      };
      stream.write = capture as typeof stream.write;
      this.restores.push(() => {
        if (pending) this.lines.push(pending);
        stream.write = original;
      });
    }
    return this;
  }

  stop(): void {
    for (const restore of this.restores.splice(0)) restore();
  }

  /** The JSON lines (anything else is ignored). */
  json(): LogLine[] {
    const out: LogLine[] = [];
    for (const line of this.lines) {
      const text = line.trim();
      if (!text.startsWith('{')) continue;
      try {
        out.push(JSON.parse(text) as LogLine);
      } catch {
        // Not a log line.
      }
    }
    return out;
  }

  /** The audit records the middleware wrote to the log because the audit table could not take them. */
  auditFallbacks(): Record<string, unknown>[] {
    return this.json()
      .filter((l) => l.message === auditFallbackMessage)
      .map((l) => l.audit as Record<string, unknown>);
  }

  withMessage(message: string): LogLine[] {
    return this.json().filter((l) => l.message === message);
  }
}

/** Runs `fn` with the log captured; the capture is stopped however `fn` ends. */
export async function capturingLog<T>(fn: (log: LogCapture) => Promise<T>): Promise<{ result: T; log: LogCapture }> {
  const log = new LogCapture().start();
  try {
    return { result: await fn(log), log };
  } finally {
    log.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scripted faults

/**
 * Replaces a fault proxy's `mode` with a script: the proxy reads `mode` once per request it receives, so the
 * script sees (and counts) every request, and answers the mode for the n-th one. `restore()` puts the plain
 * field back (mode ok).
 */
export function scriptFaults(proxy: FaultProxy, script: (n: number) => FaultMode): { requests(): number; restore(): void } {
  let count = 0;
  Object.defineProperty(proxy, 'mode', {
    configurable: true,
    enumerable: true,
    get: () => script(count++),
    set: () => {
      throw new Error('the proxy is scripted; restore() first');
    },
  });
  return {
    requests: () => count,
    restore: () => {
      delete (proxy as unknown as Record<string, unknown>).mode;
      proxy.mode = { kind: 'ok' };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Responses

/** Stack frames, source paths and internal error names: none may reach a client. */
const internals = [
  /\n\s*at\s+\S.*:\d+:\d+/, // a stack frame
  /\(\/[^)]*:\d+:\d+\)/, // (path:line:col)
  /node:internal|node_modules|\/work\/|file:\/\//,
  /\.ts:\d+/,
  /ECONNRESET|ECONNREFUSED|socket hang up|ThrottlingException|ValidationException|ResourceNotFoundException|ConditionalCheckFailed|InternalServerError|TimeoutError/,
  /\$metadata|httpStatusCode|dynalite|s3rver/i,
];

/** The response carries no stack trace, file path, SDK error or store name. */
export function expectNoInternals(res: ApiResponse): void {
  // A presigned S3 URL (model uploads and downloads) names the signer's access key id by design; the local
  // twin's is s3rver's fixed one. The signature, not the key id, is the secret.
  const text = res.text.replace(/X-Amz-Credential=[^&"\s]*/g, 'X-Amz-Credential=<key id>');
  for (const pattern of internals) expect(text, `response leaks internals (${pattern}): ${text.slice(0, 500)}`).not.toMatch(pattern);
}

/** A 5xx from a function: the generic envelope, the request id, nothing internal. */
export function expectGeneric5xx(res: ApiResponse): void {
  expect(res.status, res.text).toBeGreaterThanOrEqual(500);
  expect(res.status, res.text).toBeLessThan(600);
  expectNoInternals(res);
  const requestId = res.headers.get('x-request-id');
  expect(requestId, 'a function answered, so it set x-request-id').toBeTruthy();
  expect(['INTERNAL', 'SERVICE_UNAVAILABLE']).toContain(res.json?.error?.code);
  expect(res.json?.error?.requestId).toBe(requestId);
  expect(res.json?.message).toBe(res.json?.error?.message);
  if (res.json?.error?.code === 'INTERNAL') expect(res.json.error.message).toBe('Internal server error');
}

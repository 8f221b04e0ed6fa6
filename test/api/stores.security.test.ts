import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localBucket } from '../../infra/local/twin.js';
import { tableName } from '../support/identity.js';
import { startTestTwin, type TestTwin } from '../support/twin.js';

/**
 * Issue 13, finding 9: the embedded DynamoDB and S3 take only requests signed with the twin's own store
 * credentials (generated into the 0700 data dir); before, any local process could read the users table
 * (password hashes) with any credentials. See docs/security.md, "What a local user can reach".
 */

let t: TestTwin;

beforeAll(async () => {
  t = await startTestTwin();
});

afterAll(async () => {
  await t?.stop();
});

type Credentials = { accessKeyId: string; secretAccessKey: string };

function dynamo(credentials: Credentials): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint: t.twin.dynamodbEndpoint, credentials, maxAttempts: 1 });
}

function s3(credentials: Credentials): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: t.twin.s3Endpoint,
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function refusal(send: () => Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await send();
  } catch (error) {
    return { name: (error as Error).name, status: (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode };
  }
  throw new Error('the request was accepted');
}

/** A raw HTTP request to a gate. */
function raw(endpoint: string, options: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(endpoint);
    const req = request({ host: url.hostname, port: url.port, method: options.method, path: options.path, headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

// The credentials that worked before: dynalite took any, s3rver its fixed S3RVER pair.
const formerlyAccepted: [string, Credentials][] = [
  ['any credentials', { accessKeyId: 'test', secretAccessKey: 'test' }],
  ["s3rver's built-in S3RVER pair", { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }],
];

describe('the embedded DynamoDB', () => {
  it('serves a client signing with the store credentials (control)', async () => {
    const out = await dynamo(t.twin.storeCredentials).send(new ListTablesCommand({}));
    expect(out.TableNames).toContain(tableName('Users'));
  });

  it.each(formerlyAccepted)('refuses %s: the users table (password hashes) cannot be read', async (_name, credentials) => {
    const refused = await refusal(() => dynamo(credentials).send(new ScanCommand({ TableName: tableName('Users') })));
    expect(refused).toEqual({ name: 'UnrecognizedClientException', status: 400 });
  });

  it('refuses the right access key id with a wrong secret', async () => {
    const refused = await refusal(() => dynamo({ accessKeyId: t.twin.storeCredentials.accessKeyId, secretAccessKey: 'not-the-secret-0123456789abcdef' }).send(new ScanCommand({ TableName: tableName('Users') })));
    expect(refused).toEqual({ name: 'InvalidSignatureException', status: 400 });
  });

  it('refuses an unsigned request', async () => {
    const res = await raw(t.twin.dynamodbEndpoint, {
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.Scan' },
      body: JSON.stringify({ TableName: tableName('Users') }),
    });
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('passwordHash');
  });

  it('refuses a correctly signed request whose body was changed (the signature covers the body)', async () => {
    // Prepare: capture a request the SDK signed with the right credentials, without sending it.
    const client = dynamo(t.twin.storeCredentials);
    let captured: { headers: Record<string, string>; body: string } | undefined;
    client.middlewareStack.addRelativeTo(
      () => async (args: { request: unknown }) => {
        const req = args.request as { headers: Record<string, string>; body: string };
        captured = { headers: { ...req.headers }, body: String(req.body) };
        throw new Error('captured');
      },
      { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'capture' },
    );
    await expect(client.send(new ListTablesCommand({}))).rejects.toThrow('captured');
    expect(captured).toBeDefined();

    // Act: replayed as signed, and with another body under the same signature.
    const replayed = await raw(t.twin.dynamodbEndpoint, { method: 'POST', path: '/', headers: captured!.headers, body: captured!.body });
    const scan = JSON.stringify({ TableName: tableName('Users') });
    const forged = await raw(t.twin.dynamodbEndpoint, {
      method: 'POST',
      path: '/',
      headers: { ...captured!.headers, 'x-amz-target': 'DynamoDB_20120810.Scan', 'content-length': String(Buffer.byteLength(scan)) },
      body: scan,
    });

    // Assess
    expect(replayed.status, replayed.body).toBe(200);
    expect(forged.status).toBe(400);
    expect(forged.body).toContain('InvalidSignatureException');
    expect(forged.body).not.toContain('passwordHash');
  });
});

describe('the embedded S3', () => {
  it('serves a client signing with the store credentials (control)', async () => {
    const out = await s3(t.twin.storeCredentials).send(new ListObjectsV2Command({ Bucket: localBucket, Prefix: 'models/' }));
    expect(out.KeyCount).toBeGreaterThan(0);
  });

  it.each(formerlyAccepted)('refuses %s', async (_name, credentials) => {
    const refused = await refusal(() => s3(credentials).send(new ListObjectsV2Command({ Bucket: localBucket })));
    expect(refused).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
  });

  it('refuses the right access key id with a wrong secret', async () => {
    const refused = await refusal(() => s3({ accessKeyId: t.twin.storeCredentials.accessKeyId, secretAccessKey: 'not-the-secret-0123456789abcdef' }).send(new ListObjectsV2Command({ Bucket: localBucket })));
    expect(refused).toEqual({ name: 'SignatureDoesNotMatch', status: 403 });
  });

  it('refuses an unsigned (anonymous) request, which s3rver itself would serve', async () => {
    const res = await raw(t.twin.s3Endpoint!, { method: 'GET', path: `/${localBucket}?list-type=2`, headers: {} });
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('models/');
  });
});

describe('the credentials and the stores on disk', () => {
  it('are generated into the data dir, private to the twin (0600 in a 0700 dir); the stores listen on sockets there', async () => {
    expect((await stat(t.dataDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(t.dataDir, 'store-credentials.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(t.dataDir, 'signing-keys.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(t.dataDir, 'sockets'))).mode & 0o777).toBe(0o700);
    for (const name of ['dynamodb.sock', 's3.sock']) expect((await stat(join(t.dataDir, 'sockets', name))).isSocket(), name).toBe(true);
    expect(t.twin.storeCredentials.accessKeyId).toMatch(/^TWIN[0-9A-F]{20}$/);
    expect(process.env.AWS_ACCESS_KEY_ID).toBe(t.twin.storeCredentials.accessKeyId);
    expect(process.env.AWS_SECRET_ACCESS_KEY).toBe(t.twin.storeCredentials.secretAccessKey);
  });
});

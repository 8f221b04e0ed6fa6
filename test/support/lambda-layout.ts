import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Pieces of the Lambda-layout test (test/infra/bundles.test.ts): a KMS endpoint answering Sign and
 * GetPublicKey with local RSA keys, a proxy in front of the local stores that records every AWS call a
 * function makes (as IAM actions on named resources), and a runner that starts a function's bundle the way
 * Lambda does (Node 22, /var/task, the layer on NODE_PATH, Lambda's flags and variables) and invokes it.
 */

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Node 22 from the npm registry (`node@22`, a devDependency): the Lambda runtime's major version. */
export const node22 = join(repoRoot, 'node_modules', 'node', 'bin', 'node');

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * KMS's JSON protocol for the two operations the token signer uses, with one RSA-2048 key per key id
 * (created on first use). The SDK's real KMSClient talks to it through AWS_ENDPOINT_URL_KMS.
 */
export class LocalKms {
  private server: Server | undefined;
  private readonly keys = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

  private key(keyId: string) {
    let pair = this.keys.get(keyId);
    if (!pair) {
      pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      this.keys.set(keyId, pair);
    }
    return pair;
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    return listen(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const input = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { KeyId?: string; Message?: string; SigningAlgorithm?: string };
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(body));
    };
    if (!input.KeyId) return reply(400, { __type: 'ValidationException', message: 'KeyId is required' });
    const pair = this.key(input.KeyId);
    if (target === 'TrentService.Sign') {
      if (input.SigningAlgorithm !== 'RSASSA_PKCS1_V1_5_SHA_256') return reply(400, { __type: 'ValidationException', message: 'unsupported algorithm' });
      const signature = createSign('sha256').update(Buffer.from(input.Message ?? '', 'base64')).sign(pair.privateKey);
      return reply(200, { KeyId: input.KeyId, Signature: signature.toString('base64'), SigningAlgorithm: input.SigningAlgorithm });
    }
    if (target === 'TrentService.GetPublicKey') {
      const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
      return reply(200, {
        KeyId: input.KeyId,
        PublicKey: spki.toString('base64'),
        KeySpec: 'RSA_2048',
        KeyUsage: 'SIGN_VERIFY',
        SigningAlgorithms: ['RSASSA_PKCS1_V1_5_SHA_256'],
      });
    }
    return reply(400, { __type: 'UnknownOperationException', message: target });
  }

  async close(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}

/** Where the recording proxy forwards each service, and how resources are named in what it records. */
export interface Backends {
  dynamodb: string;
  s3: string;
  sns: string;
  kms: string;
  /** Local table name -> the TableDef id the templates name (`twinserve-users` -> `Users`). */
  tableIds: ReadonlyMap<string, string>;
  /** Local key id -> the name the templates use (`SigningKeyA`). */
  keyNames: ReadonlyMap<string, string>;
}

/**
 * One function's view of AWS: every request it sends to DynamoDB, S3, SNS or KMS passes here and is recorded
 * as `<iam action> <resource>` (`dynamodb:UpdateItem <AlertState>`, `s3:GetObject models/`, `kms:Sign
 * <SigningKeyA>`), then forwarded unchanged (the Host header too, so S3 signatures still verify).
 */
export class RecordingProxy {
  private server: Server | undefined;
  readonly calls = new Set<string>();

  constructor(private readonly backends: Backends) {}

  async listen(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((error: unknown) => {
      res.writeHead(502);
      res.end(String(error));
    }));
    return listen(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    let backend: string;
    if (target.startsWith('DynamoDB_20120810.')) {
      backend = this.backends.dynamodb;
      const input = JSON.parse(body.toString('utf8')) as { TableName?: string; IndexName?: string; RequestItems?: Record<string, unknown> };
      // BatchGetItem and BatchWriteItem name their tables as the keys of RequestItems, not in TableName.
      const names = input.RequestItems ? Object.keys(input.RequestItems) : [input.TableName ?? ''];
      const index = input.IndexName ? `/index/${input.IndexName}` : '';
      for (const name of names) {
        const table = this.backends.tableIds.get(name) ?? `unknown table ${name || undefined}`;
        this.calls.add(`dynamodb:${target.slice('DynamoDB_20120810.'.length)} <${table}>${index}`);
      }
    } else if (target.startsWith('TrentService.')) {
      backend = this.backends.kms;
      const input = JSON.parse(body.toString('utf8')) as { KeyId?: string };
      this.calls.add(`kms:${target.slice('TrentService.'.length)} <${this.backends.keyNames.get(input.KeyId ?? '') ?? `unknown key ${input.KeyId}`}>`);
    } else if (req.method === 'POST' && new URLSearchParams(body.toString('utf8')).get('Action') === 'Publish') {
      backend = this.backends.sns;
      this.calls.add('sns:Publish <AlertsTopic>');
    } else {
      backend = this.backends.s3;
      this.calls.add(s3Call(req.method ?? 'GET', req.url ?? '/'));
    }
    const url = new URL(req.url ?? '/', backend);
    await new Promise<void>((resolve, reject) => {
      const out = httpRequest(url, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  }

  async close(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}

/** A path-style S3 request as the IAM action it needs and the key's first segment (`s3:GetObject models/`). */
function s3Call(method: string, rawUrl: string): string {
  const url = new URL(rawUrl, 'http://s3.local');
  const [, _bucket, ...key] = url.pathname.split('/');
  if (key.length === 0 || key.join('/') === '') {
    if (method === 'GET' && url.searchParams.has('list-type')) return 's3:ListBucket <ModelBucket>';
    return `s3:${method} bucket <ModelBucket>`;
  }
  const prefix = `${decodeURIComponent(key[0]!)}/`;
  if (method === 'GET' || method === 'HEAD') return `s3:GetObject <ModelBucket>/${prefix}*`;
  if (method === 'PUT') return `s3:PutObject <ModelBucket>/${prefix}*`;
  return `s3:${method} object <ModelBucket>/${prefix}*`;
}

/** The runtime loop inside the Node 22 process: the bundle's handler, invoked once per line on stdin. */
const runtimeSource = `
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
const { handler } = await import(process.env.TWIN_TEST_HANDLER_URL);
let invocation = 0;
for await (const line of createInterface({ input: process.stdin })) {
  const { id, event } = JSON.parse(line);
  const context = {
    awsRequestId: 'req-' + ++invocation,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    getRemainingTimeInMillis: () => 15000,
    callbackWaitsForEmptyEventLoop: true,
  };
  let answer;
  try {
    answer = { id, result: await handler(event, context) };
  } catch (error) {
    answer = { id, error: String(error && error.stack || error) };
  }
  writeSync(3, JSON.stringify(answer) + '\\n');
}
`;

export interface LambdaProcessOptions {
  /** The function's synthesized bundle (index.mjs and its map). */
  bundleDir: string;
  /** The layer's content (its `nodejs/node_modules`), for functions that carry it. */
  layerDir?: string;
  /** Scratch space: `<root>/var/task`, `<root>/opt`. */
  root: string;
  /** The function's environment from the template, with local values. */
  environment: Record<string, string>;
  memoryMb: number;
  functionName: string;
}

/**
 * One warm Lambda container: the bundle copied to `<root>/var/task`, the layer to `<root>/opt`, Node 22 with
 * the flags and variables the nodejs22.x runtime sets (NODE_PATH includes /opt/nodejs/node_modules), and the
 * handler imported once, then invoked per event.
 */
export class LambdaProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private next = 0;
  readonly output: string[] = [];
  private exited: string | undefined;

  constructor(options: LambdaProcessOptions) {
    const task = join(options.root, 'var', 'task');
    const opt = join(options.root, 'opt');
    mkdirSync(task, { recursive: true });
    for (const file of readdirSync(options.bundleDir)) copyFileSync(join(options.bundleDir, file), join(task, file));
    if (options.layerDir) {
      mkdirSync(opt, { recursive: true });
      symlinkSync(join(options.layerDir, 'nodejs'), join(opt, 'nodejs'), 'dir');
    }
    const runtime = join(options.root, 'runtime', 'index.mjs');
    mkdirSync(dirname(runtime), { recursive: true });
    writeFileSync(runtime, runtimeSource);
    // What the nodejs22.x bootstrap passes: heap sized from the memory setting, larger HTTP headers, gc exposed.
    const heapMb = Math.floor(options.memoryMb * 0.85);
    const semiSpaceMb = options.memoryMb >= 1024 ? 16 : 8;
    const flags = ['--expose-gc', '--max-http-header-size=81920', `--max-semi-space-size=${semiSpaceMb}`, `--max-old-space-size=${heapMb}`];
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      LAMBDA_TASK_ROOT: task,
      LAMBDA_RUNTIME_DIR: dirname(runtime),
      NODE_PATH: [join(opt, 'nodejs', 'node22', 'node_modules'), join(opt, 'nodejs', 'node_modules'), dirname(runtime), task].join(':'),
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_LAMBDA_FUNCTION_NAME: options.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memoryMb),
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${options.functionName}`,
      ...options.environment,
      // Under `faketime` (CI runs the suite a year ahead) the functions share the test's clock: tokens they
      // issue must verify in the test, and the stores' TTLs and day windows must agree.
      ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^(LD_PRELOAD|FAKETIME\w*|DONT_FAKE_MONOTONIC)$/.test(e[0]) && e[1] !== undefined)),
      TWIN_TEST_HANDLER_URL: new URL(`file://${join(task, 'index.mjs')}`).href,
    };
    const nodeOptions = env.NODE_OPTIONS ? [env.NODE_OPTIONS] : [];
    delete env.NODE_OPTIONS;
    this.child = spawn(node22, [...flags, ...nodeOptions, runtime], { cwd: task, env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] }) as unknown as ChildProcessWithoutNullStreams;
    const results = (this.child.stdio as unknown as NodeJS.ReadableStream[])[3]!;
    createInterface({ input: results }).on('line', (line) => {
      const answer = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const waiter = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if (answer.error !== undefined) waiter?.reject(new Error(answer.error));
      else waiter?.resolve(answer.result);
    });
    for (const stream of [this.child.stdout, this.child.stderr]) createInterface({ input: stream }).on('line', (line) => this.output.push(line));
    this.child.on('exit', (code, signal) => {
      this.exited = `exited with ${code ?? signal}: ${this.output.slice(-20).join('\n')}`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  invoke<T = unknown>(event: unknown): Promise<T> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin.write(`${JSON.stringify({ id, event })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
      this.child.kill('SIGTERM');
    });
  }
}

export interface EventOptions {
  routeKey: string;
  path: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Verified JWT claims, as the authorizer passes them. */
  claims?: Record<string, unknown>;
  sourceIp?: string;
}

let requestCounter = 0;

/** An API Gateway HTTP API (payload 2.0) event, as the `$default` stage sends it to the `live` alias. */
export function httpApiEvent(options: EventOptions): Record<string, unknown> {
  const [method] = options.routeKey.split(' ');
  const headers: Record<string, string> = { host: 'api.twin.test', 'user-agent': 'lambda-layout-test', ...(options.headers ?? {}) };
  if (options.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const query = options.query ?? {};
  const rawQueryString = new URLSearchParams(query).toString();
  const requestId = `layout-${++requestCounter}`;
  return {
    version: '2.0',
    routeKey: options.routeKey,
    rawPath: options.path,
    rawQueryString,
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'layouttest',
      domainName: 'api.twin.test',
      domainPrefix: 'api',
      http: { method, path: options.path, protocol: 'HTTP/1.1', sourceIp: options.sourceIp ?? '203.0.113.7', userAgent: 'lambda-layout-test' },
      requestId,
      routeKey: options.routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      ...(options.claims ? { authorizer: { jwt: { claims: options.claims, scopes: null } } } : {}),
    },
    ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body), isBase64Encoded: false } : { isBase64Encoded: false }),
  };
}

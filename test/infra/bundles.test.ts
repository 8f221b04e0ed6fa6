import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envNames, loadConfig } from '../../functions/config.js';
import { functionDefs } from '../../infra/functions.js';
import { stringifyClaims } from '../../infra/local/jwt-authorizer.js';
import { localBucket } from '../../infra/local/twin.js';
import { localTableName, seedLocal } from '../../infra/local/seed.js';
import { SnsSink } from '../../infra/local/sns-sink.js';
import { startEmbeddedStores, type EmbeddedStores } from '../../infra/local/stores.js';
import { functionNames, routeKey, routes, schedules, type FunctionName } from '../../functions/routes.js';
import { functionConstructId } from '../../infra/stacks/api-stack.js';
import { tables } from '../../infra/tables.js';
import { directorySize } from '../../layers/onnxruntime/build.js';
import { describeValue, pathOf, resourcesOfType, synthesize, type CfnTemplate, type Synthesized } from '../support/cdk.js';
import { LambdaProcess, LocalKms, node22, RecordingProxy, httpApiEvent } from '../support/lambda-layout.js';
import { expectedStatus, functionOf, scheduleRoute, steps, type StepState } from '../support/lambda-steps.js';
import { scheduledEvent } from '../../functions/middleware/scheduled.js';

/** The credentials the local stores' SigV4 gates admit in this test. */
const storeCredentials = { accessKeyId: 'AKIDLAYOUTTEST', secretAccessKey: 'layout-test-store-secret' };
import { adminPassword } from '../support/twin.js';

/**
 * The real artifacts, run as Lambda runs them. Every function is bundled by local esbuild as `npx cdk synth`
 * does, with the onnxruntime layer; sizes are checked against Lambda's limits; then each bundle is laid out
 * as Lambda lays it out (/var/task, the layer under /opt/nodejs/node_modules, NODE_PATH, Node 22 from the npm
 * registry with the runtime's flags, the template's environment) and every route of functions/routes.ts is
 * invoked with an API Gateway v2 event against the local stores, KMS signing against a local KMS endpoint.
 * Each function's AWS calls pass a recording proxy, and must equal what its role allows in the template.
 */

const MB = 1024 * 1024;
const repoRoot = join(import.meta.dirname, '..', '..');
const issuer = 'https://api.twin.test';
const region = 'eu-west-1';
const topicArn = `arn:aws:sns:${region}:123456789012:twinserve-alerts`;
let synth: Synthesized;
let templates: Record<string, CfnTemplate>;
let scratch: string;
const sizes: Record<string, number> = {};

function assetDir(s3Key: unknown): string {
  const hash = String(s3Key).replace(/\.zip$/, '');
  const dir = join(synth.outdir, `asset.${hash}`);
  expect(existsSync(dir), dir).toBe(true);
  return dir;
}

function functionResource(name: FunctionName) {
  const fn = resourcesOfType(synth.templates.api, 'AWS::Lambda::Function').find(([, r]) => pathOf(r).endsWith(`/${functionConstructId(name)}/Function/Resource`));
  expect(fn, name).toBeDefined();
  return fn![1];
}

function bundleDir(name: FunctionName): string {
  return assetDir(functionResource(name).Properties?.Code.S3Key);
}

function layerDir(): string {
  const [, layer] = resourcesOfType(synth.templates.api, 'AWS::Lambda::LayerVersion')[0]!;
  return assetDir(layer.Properties?.Content.S3Key);
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'twinserve-bundles-'));
  synth = synthesize('dev', { bundle: ['Twinserve-dev-Api'] });
  const { data, api, ops } = synth.twinserve;
  templates = { [data.stackName]: synth.templates.data, [api.stackName]: synth.templates.api, [ops.stackName]: synth.templates.ops };
}, 180_000);

afterAll(() => {
  synth?.dispose();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (Object.keys(sizes).length) console.info('unzipped sizes (MB):', sizes);
});

describe('function bundles', () => {
  it('keeps predict under 5 MB', () => {
    const bytes = directorySize(bundleDir('predict'));
    sizes.predict = Number((bytes / MB).toFixed(2));
    expect(bytes).toBeLessThan(5 * MB);
  });

  it.each(functionNames)('%s: an ES module bundle under 5 MB', (name) => {
    const files = readdirSync(bundleDir(name)).sort();
    expect(files).toEqual(['index.mjs', 'index.mjs.map']);
    expect(directorySize(bundleDir(name))).toBeLessThan(5 * MB);
  });

  it.each(functionNames)('%s: requires onnxruntime-node from the layer only if it infers, and never ES-imports it', (name) => {
    const code = readFileSync(join(bundleDir(name), 'index.mjs'), 'utf8');
    // Lambda's Node resolves ES imports through NODE_PATH, upstream Node does not: the layer is required.
    expect(code).not.toMatch(/from\s*"onnxruntime-node"|import\("onnxruntime-node"\)/);
    expect(code.includes('"onnxruntime-node"')).toBe(functionDefs[name].inference);
    // Elsewhere the stub stands in; since each function builds only its own services (functions/services.ts),
    // the others load no model, so they carry neither the package nor the stub.
    if (functionDefs[name].inference) expect(code.includes('onnxruntime-node is not deployed with this function')).toBe(false);
    // Only the functions that infer carry the layer (the JWKS function stays small for the authorizer).
    const layers = (functionResource(name).Properties?.Layers ?? []) as unknown[];
    expect(layers.length).toBe(functionDefs[name].inference ? 1 : 0);
  });
});

describe('onnxruntime layer', () => {
  it('is under 60 MB unzipped', () => {
    const bytes = directorySize(layerDir());
    sizes.layer = Number((bytes / MB).toFixed(2));
    expect(bytes).toBeLessThan(60 * MB);
  });

  it('carries only the linux binaries of the configured architecture, and no CUDA', () => {
    const bin = join(layerDir(), 'nodejs', 'node_modules', 'onnxruntime-node', 'bin');
    for (const napi of readdirSync(bin)) {
      expect(readdirSync(join(bin, napi))).toEqual(['linux']);
      expect(readdirSync(join(bin, napi, 'linux'))).toEqual([synth.twinserve.environment.config.architecture === 'arm64' ? 'arm64' : 'x64']);
      for (const file of readdirSync(join(bin, napi, 'linux'), { recursive: true })) expect(String(file)).not.toMatch(/cuda|tensorrt/i);
    }
  });
});

describe("every route, in Lambda's layout under Node 22", () => {
  let stores: EmbeddedStores;
  let sns: SnsSink;
  let kms: LocalKms;
  const proxies = new Map<FunctionName, RecordingProxy>();
  const lambdas = new Map<FunctionName, LambdaProcess>();
  let jwks: JSONWebKeySet | undefined;
  const state: StepState = {
    admin: {},
    operator: {},
    key: {},
    keyId: '',
    keySecret: '',
    uploadId: '',
    requestId: '',
    batchId: '',
    failSns: (failing) => {
      sns.failing = failing;
    },
    claimsOf: async (token) => {
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks!), { issuer, audience: synth.twinserve.api.audience, algorithms: ['RS256'] });
      return stringifyClaims(payload);
    },
  };

  /** The template's environment for a function, with local values for what names deployed resources. */
  function localEnvironment(name: FunctionName, endpoint: string, keyIds: Map<string, string>): Record<string, string> {
    const variables = (functionResource(name).Properties?.Environment?.Variables ?? {}) as Record<string, unknown>;
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(variables)) {
      const described = describeValue(value, synth.twinserve.api.stackName, templates);
      const table = tables.find((t) => t.env === key);
      if (table) {
        expect(described, key).toBe(`<${table.id}>`);
        env[key] = localTableName(table);
      } else if (key === envNames.modelBucket) env[key] = localBucket;
      else if (key === envNames.issuer) env[key] = issuer;
      else if (key === envNames.alertsTopicArn) env[key] = topicArn;
      else if (key === envNames.signingKmsKeyIds) {
        env[key] = described.split(',').map((k) => {
          const local = `arn:aws:kms:${region}:123456789012:key/${k.replace(/[<>]/g, '')}`;
          keyIds.set(local, k.replace(/[<>]/g, ''));
          return local;
        }).join(',');
      } else {
        expect(typeof value, `${name}: ${key} is ${described}, which this test cannot give a local value`).toBe('string');
        env[key] = value as string;
      }
    }
    return {
      ...env,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      // The local stores' gates admit only their own credentials; the proxy forwards to them, nothing reaches AWS.
      AWS_ACCESS_KEY_ID: storeCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: storeCredentials.secretAccessKey,
      AWS_SESSION_TOKEN: 'layout-test',
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ENDPOINT_URL_SNS: endpoint,
      AWS_ENDPOINT_URL_KMS: endpoint,
      // s3rver: path-style, and no aws-chunked bodies (infra/local/twin.ts says why).
      [envNames.s3ForcePathStyle]: 'true',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    };
  }

  beforeAll(async () => {
    expect(execFileSync(node22, ['--version'], { encoding: 'utf8' })).toMatch(/^v22\./);
    const dataDir = join(scratch, 'stores');
    stores = await startEmbeddedStores(dataDir, storeCredentials);
    sns = new SnsSink(join(dataDir, 'alerts.jsonl'));
    kms = new LocalKms();
    const [snsEndpoint, kmsEndpoint] = await Promise.all([sns.listen(), kms.listen()]);

    // Tables, bucket, the reference model and the admin, as the local twin seeds them.
    const seedEnv = {
      ...Object.fromEntries(tables.map((t) => [t.env, localTableName(t)])),
      [envNames.modelBucket]: localBucket,
      [envNames.issuer]: issuer,
      [envNames.audience]: synth.twinserve.api.audience,
      [envNames.signingKmsKeyIds]: 'unused-by-seeding',
    };
    Object.assign(process.env, {
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: storeCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: storeCredentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: stores.dynamodbEndpoint,
      AWS_ENDPOINT_URL_S3: stores.s3Endpoint,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    });
    await seedLocal(loadConfig(seedEnv), { modelsDir: join(repoRoot, 'models'), adminPassword });

    const tableIds = new Map(tables.map((t) => [localTableName(t), t.id]));
    const keyNames = new Map<string, string>();
    for (const name of functionNames) {
      const proxy = new RecordingProxy({ dynamodb: stores.dynamodbEndpoint, s3: stores.s3Endpoint!, sns: snsEndpoint, kms: kmsEndpoint, tableIds, keyNames });
      proxies.set(name, proxy);
      const endpoint = await proxy.listen();
      const props = functionResource(name).Properties!;
      lambdas.set(
        name,
        new LambdaProcess({
          bundleDir: bundleDir(name),
          ...(functionDefs[name].inference ? { layerDir: layerDir() } : {}),
          root: join(scratch, 'lambda', name),
          environment: localEnvironment(name, endpoint, keyNames),
          memoryMb: Number(props.MemorySize ?? 128),
          functionName: `Twinserve-dev-${functionConstructId(name)}`,
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...lambdas.values()].map((l) => l.stop()));
    await Promise.all([...proxies.values()].map((p) => p.close()));
    await sns?.close();
    await kms?.close();
    await stores?.close();
  });

  it('has a step for every route and every schedule', () => {
    expect(new Set(steps.map((s) => s.route))).toEqual(new Set([...routes.map(routeKey), ...schedules.map((s) => scheduleRoute(s.function))]));
  });

  it.each(steps.map((step) => [step.name, step] as const))('%s', async (_name, step) => {
    const fn = functionOf(step);
    step.before?.(state);
    if (schedules.some((s) => scheduleRoute(s.function) === step.route)) {
      // A scheduled function gets EventBridge's event; it answers with its run's summary.
      const summary = await lambdas.get(fn)!.invoke<{ action: string; failed: number; checked: number }>(scheduledEvent(new Date(), `rule/${fn}`));
      expect(summary, JSON.stringify(summary)).toMatchObject({ failed: 0 });
      expect(summary.checked).toBeGreaterThan(0);
      await step.after?.(state, summary, {});
      return;
    }
    const body = typeof step.body === 'function' ? await (step.body as (s: StepState) => unknown)(state) : step.body;
    const claims = step.anonymous ? undefined : step.as ? state[step.as] : state.admin;
    const event = httpApiEvent({
      routeKey: step.route,
      path: typeof step.path === 'function' ? step.path(state) : step.path,
      ...(step.pathParameters ? { pathParameters: typeof step.pathParameters === 'function' ? step.pathParameters(state) : step.pathParameters } : {}),
      ...(step.query ? { query: step.query } : {}),
      ...(body !== undefined ? { body } : {}),
      ...(step.headers ? { headers: step.headers } : {}),
      ...(claims ? { claims } : {}),
    });
    const result = await lambdas.get(fn)!.invoke<{ statusCode: number; body: string; headers: Record<string, string> }>(event);
    expect(result.statusCode, `${step.route} (${fn}): ${result.body?.slice(0, 500)}`).toBe(expectedStatus(step));
    // Lambda's synchronous response limit (6 MB): the route must answer well under it.
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(6 * MB);
    const json = result.headers['content-type']?.startsWith('application/json') ? (JSON.parse(result.body) as any) : result.body;
    if (step.route === 'GET /.well-known/jwks.json') jwks = json as JSONWebKeySet;
    if (step.name === 'login') state.admin = await state.claimsOf((json as { token: string }).token);
    await step.after?.(state, json, result.headers);
  });

  it('published an alert per alerting function once SNS answered again (the failed publish released its claim), and a quality alert', async () => {
    const messages = (await sns.recent(100)).map((m) => m.message as { principal?: string; kind?: string; model?: string; version?: string });
    const principals = new Set(messages.filter((m) => !m.kind?.startsWith('quality')).map((m) => m.principal));
    expect(principals).toEqual(new Set(['admin', 'layout-operator', state.key.sub]));
    // The quality function's alert: coverage of the calibrated 1.0.0 below its band.
    expect(messages.filter((m) => m.kind === 'quality')).toContainEqual(expect.objectContaining({ model: 'reactor-yield', version: '1.0.0', rule: 'coverage_low' }));
  });

  it('printed the Predictions metric for POST /predict', () => {
    const emf = lambdas
      .get('predict')!
      .output.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .filter((doc) => '_aws' in doc && 'Predictions' in doc);
    expect(emf.length).toBeGreaterThanOrEqual(2);
  });

  describe('IAM follows from use', () => {
    it.each(functionNames)('%s: its role allows exactly the AWS calls its code sent', (name) => {
      const sent = proxies.get(name)!.calls;
      const granted = grantedCalls(name);
      const missing = [...sent].filter((call) => !granted.has(call)).sort();
      const unused = [...granted].filter((call) => !sent.has(call) && !grantedWithoutUse(name, call)).sort();
      expect({ missing, unused }).toEqual({ missing: [], unused: [] });
    });
  });

  /** `action resource` pairs the function's role allows, inline and through managed policies (logs and X-Ray aside). */
  function grantedCalls(name: FunctionName): Set<string> {
    const cid = functionConstructId(name);
    const api = synth.twinserve.api.stackName;
    const pairs = new Set<string>();
    const at = (template: CfnTemplate, path: string) => Object.values(template.Resources).find((r) => pathOf(r) === path);
    const add = (statements: Record<string, any>[], stack: string) => {
      for (const statement of statements) {
        for (const action of [statement.Action].flat() as string[]) {
          if (/^(logs|xray):/.test(action)) continue;
          for (const resource of [statement.Resource].flat()) pairs.add(`${action} ${describeValue(resource, stack, templates)}`);
        }
      }
    };
    add(at(synth.templates.api, `${api}/${cid}/Role/DefaultPolicy/Resource`)!.Properties!.PolicyDocument.Statement, api);
    for (const arn of (at(synth.templates.api, `${api}/${cid}/Role/Resource`)!.Properties!.ManagedPolicyArns ?? []) as unknown[]) {
      const managed = describeValue(arn, api, templates).replace(/^<|>$/g, '');
      add(at(synth.templates.data, `${synth.twinserve.data.stackName}/${managed}/Resource`)!.Properties!.PolicyDocument.Statement, synth.twinserve.data.stackName);
    }
    return pairs;
  }
});

/**
 * Grants a function holds without this scenario sending the call, each with its reason. Anything else
 * granted and unused fails the test, as does anything sent and not granted.
 */
const unusedGrants: { functions: readonly FunctionName[] | 'all'; call: RegExp; reason: string }[] = [
  {
    functions: ['predict', 'batch', 'status', 'audit', 'models', 'quality', 'insight'],
    call: /^dynamodb:GetItem <ApiKeys>$/,
    reason:
      "The per-request principal re-check reads the API key's state when a key's token calls (functions/core/auth/principal-state.ts); this scenario calls with a key token only the inference function, whose grant is therefore checked by use.",
  },
  {
    functions: 'all',
    call: /^s3:ListBucket <ModelBucket>$/,
    reason:
      'Part of the model bucket read policy: with it S3 answers 404 (not 403) for a key that does not exist, which the model store reads as "no such model or version"; functions that never ask for a missing key do not list.',
  },
];

function grantedWithoutUse(name: FunctionName, call: string): boolean {
  return unusedGrants.some((g) => (g.functions === 'all' || g.functions.includes(name)) && g.call.test(call));
}


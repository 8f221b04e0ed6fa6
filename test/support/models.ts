import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sha256Hex } from '../../functions/core/manifest.js';
import { localBucket, repoRoot } from '../../infra/local/twin.js';
import type { SinkMessage } from '../../infra/local/sns-sink.js';
import { trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { Prng } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield } from '../../models/tools/reactor.js';
import { relaxedLoginEnv } from './identity.js';
import { startTestTwin, type Api, type ApiResponse, type TestTwin } from './twin.js';

/**
 * Helpers for the model-lifecycle tests (issue 5): a twin with model-test settings (and optionally the
 * fault proxies), model packages to publish (the reference one, a re-versioned copy whose scaler shifts
 * the inputs so its predictions differ, a genuinely different small forest), direct S3 access to corrupt
 * packages or rewrite routing.json behind the API's back, the SNS sink's messages, stats and audit reads.
 */

export const modelName = 'reactor-yield';

/** A feature row of reactor-yield; defaults are the chapter's example point (prediction ~84 %). */
export function row(temp: number, pressure = 6, flow = 100): { temp: number; pressure: number; flow: number } {
  return { temp, pressure, flow };
}

/** ~10 % yield: far below the 70..95 band (rule below_min, severity critical). */
export const outOfBandRow = row(300);
/** ~84 % yield: inside the band. */
export const inBandRow = row(360);

/**
 * Environment for model tests: routing re-read on every request (tests change routing and inject faults),
 * a rate limit no burst reaches, login throttles no set-up trips.
 */
export const modelTestEnv: Record<string, string> = {
  ...relaxedLoginEnv,
  TWIN_ROUTING_CACHE_SECONDS: '0',
  TWIN_RATE_LIMIT_PER_MINUTE: '100000',
};

/** Starts a local twin in a fresh temp dir with `env` (default {@link modelTestEnv}) and optionally the fault proxies. */
export function startModelTwin(options: { env?: Record<string, string>; faults?: boolean } = {}): Promise<TestTwin> {
  return startTestTwin({ env: options.env ?? modelTestEnv, faults: options.faults ?? false });
}

// ---------------------------------------------------------------------------------------------------------
// Packages

export interface TestPackage {
  manifest: Record<string, unknown>;
  bytes: Uint8Array;
}

const referenceDir = join(repoRoot, 'models', modelName, '1.0.0');

/** reactor-yield@1.0.0 as shipped in models/ (and seeded into every local twin). */
export async function referencePackage(): Promise<TestPackage> {
  const [manifestText, bytes] = await Promise.all([readFile(join(referenceDir, 'manifest.json'), 'utf8'), readFile(join(referenceDir, 'model.onnx'))]);
  return { manifest: JSON.parse(manifestText) as Record<string, unknown>, bytes: new Uint8Array(bytes) };
}

/**
 * The reference package re-versioned. Same model.onnx bytes (same sha256). With `tempShift`, a standard
 * scaler `(x - mean) / 1` with mean `[tempShift, 0, 0]` is applied before inference: the graph sees
 * `temp - tempShift`, so the version answers differently from 1.0.0 for the same request.
 */
export async function referenceVariant(version: string, options: { tempShift?: number } = {}): Promise<TestPackage> {
  const ref = await referencePackage();
  const manifest: Record<string, unknown> = { ...ref.manifest, version };
  if (options.tempShift !== undefined) manifest.scaler = { kind: 'standard', mean: [options.tempShift, 0, 0], scale: [1, 1, 1] };
  return { manifest, bytes: ref.bytes };
}

/**
 * A genuinely different model (different ONNX bytes): a small seeded forest of 3 trees on the reactor
 * surface, exported like the reference one. Deterministic for a seed.
 */
export function smallForestPackage(version: string, seed = 7, options: { padBytes?: number } = {}): TestPackage {
  const x = latinHypercube(300, REACTOR_FEATURES, seed).map((r) => r.map(Math.fround));
  const noise = new Prng(seed + 1);
  const y = x.map(([t, p, f]) => reactorYield(t as number, p as number, f as number, noise));
  const forest = trainRandomForest(x, y, { nTrees: 3, maxDepth: 6, minSamplesLeaf: 3, maxFeatures: 3, seed });
  // padBytes makes a large yet valid file (a long doc string), for the paths that move big models.
  const docString = `small test forest, seed ${seed}${options.padBytes ? ` ${'.'.repeat(options.padBytes)}` : ''}`;
  const bytes = exportForestOnnx(forest, { graphName: 'small_forest', docString });
  const manifest: Record<string, unknown> = {
    schemaVersion: 1,
    name: modelName,
    version,
    created: '2026-11-26', // date-inert: a package's created date
    description: `A small 3-tree forest for the tests (seed ${seed})`,
    modelType: 'RandomForestRegressor',
    target: { name: 'yield', unit: '%' },
    features: REACTOR_FEATURES.map((f) => ({ name: f.name, unit: f.unit, min: f.min, max: f.max })),
    onnx: { input: 'input', output: 'members' },
    output: { kind: 'ensemble', members: 3 },
    interval: { method: 'ensemble-percentile', lower: 5, upper: 95 },
    alerts: { min: 70, max: 95 },
    sha256: sha256Hex(bytes),
  };
  return { manifest, bytes };
}

/** The body of POST /api/v1/models/{name}/versions. */
export function publishBody(pkg: TestPackage): { manifest: Record<string, unknown>; model_base64: string } {
  return { manifest: pkg.manifest, model_base64: Buffer.from(pkg.bytes).toString('base64') };
}

export function publish(api: Api, token: string, pkg: TestPackage, name = modelName): Promise<ApiResponse> {
  return api('POST', `/api/v1/models/${name}/versions`, { token, body: publishBody(pkg) });
}

/** Publishes and expects 201 (a new version). */
export async function publishNew(api: Api, token: string, pkg: TestPackage): Promise<void> {
  const res = await publish(api, token, pkg);
  if (res.status !== 201) throw new Error(`publishing ${String(pkg.manifest.version)} answered ${res.status}: ${res.text}`);
}

/** PUT routing, expecting 200. */
export async function setRouting(api: Api, token: string, routing: Record<string, unknown>): Promise<ApiResponse> {
  const res = await api('PUT', `/api/v1/models/${modelName}/routing`, { token, body: routing });
  if (res.status !== 200) throw new Error(`routing ${JSON.stringify(routing)} answered ${res.status}: ${res.text}`);
  return res;
}

/** POST activate, expecting 200. */
export async function activate(api: Api, token: string, version: string): Promise<ApiResponse> {
  const res = await api('POST', `/api/v1/models/${modelName}/activate`, { token, body: { version } });
  if (res.status !== 200) throw new Error(`activating ${version} answered ${res.status}: ${res.text}`);
  return res;
}

// ---------------------------------------------------------------------------------------------------------
// Stats and audit through the API

export interface VariantStatsView {
  version: string;
  role: 'active' | 'variant' | 'shadow' | 'inactive';
  weight: number;
  requests: number;
  errors: number;
  rows: number;
  mean_latency_ms: number | null;
  p95_latency_ms: number | null;
  latency_histogram: { le_ms: number | null; count: number }[];
  mean_prediction: number | null;
  cache_hit_rate: number;
  alerts: number;
}

/** GET /api/v1/models/{name}/stats → the variants (expects 200). */
export async function variantStats(api: Api, token: string): Promise<VariantStatsView[]> {
  const res = await api<{ variants: VariantStatsView[] }>('GET', `/api/v1/models/${modelName}/stats`, { token });
  if (res.status !== 200) throw new Error(`stats answered ${res.status}: ${res.text}`);
  return res.json.variants;
}

/** The serving (non-shadow) counters of one version, or undefined when it has none. */
export function servingStats(variants: VariantStatsView[], version: string): VariantStatsView | undefined {
  return variants.find((v) => v.version === version && v.role !== 'shadow');
}

export interface AuditItem {
  requestId: string;
  principal: string;
  action: string;
  outcome: number;
  errorCode?: string;
  modelVersion?: string;
}

/** Audit records (newest first) for a principal and action, following cursors. */
export async function auditRecords(api: Api, token: string, query: { principal: string; action: string }): Promise<AuditItem[]> {
  const items: AuditItem[] = [];
  let cursor: string | null = null;
  do {
    const params: URLSearchParams = new URLSearchParams({ principal: query.principal, action: query.action, limit: '200', ...(cursor ? { cursor } : {}) });
    const res: ApiResponse<{ items: AuditItem[]; next_cursor: string | null }> = await api<{ items: AuditItem[]; next_cursor: string | null }>('GET', `/api/v1/audit?${params.toString()}`, { token });
    if (res.status !== 200) throw new Error(`audit query answered ${res.status}: ${res.text}`);
    items.push(...res.json.items);
    cursor = res.json.next_cursor;
  } while (cursor);
  return items;
}

// ---------------------------------------------------------------------------------------------------------
// Direct S3 access (behind the API's back: corruption, out-of-band routing changes)

/** An S3 client for the twin's embedded S3 server itself (not through the fault proxy). */
export function s3Client(t: TestTwin): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: t.twin.s3Endpoint,
    forcePathStyle: true,
    credentials: t.twin.storeCredentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function putObject(t: TestTwin, key: string, body: Uint8Array | string): Promise<void> {
  const s3 = s3Client(t);
  try {
    await s3.send(new PutObjectCommand({ Bucket: localBucket, Key: key, Body: body }));
  } finally {
    s3.destroy();
  }
}

export async function getObject(t: TestTwin, key: string): Promise<Uint8Array> {
  const s3 = s3Client(t);
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: localBucket, Key: key }));
    return await out.Body!.transformToByteArray();
  } finally {
    s3.destroy();
  }
}

export function modelKey(version: string): string {
  return `models/${modelName}/${version}/model.onnx`;
}

/** Overwrites `<version>/model.onnx` with one byte flipped: the manifest's digest no longer matches. */
export async function corruptModel(t: TestTwin, version: string): Promise<Uint8Array> {
  const original = await getObject(t, modelKey(version));
  const corrupt = original.slice();
  corrupt[corrupt.length >> 1] = corrupt[corrupt.length >> 1]! ^ 0xff;
  await putObject(t, modelKey(version), corrupt);
  return original;
}

/** Writes routing.json directly (as another container, or an operator with bucket access, would). */
export async function writeRoutingObject(t: TestTwin, routing: Record<string, unknown>): Promise<void> {
  await putObject(t, `models/${modelName}/routing.json`, `${JSON.stringify(routing, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------------------
// The SNS sink

/** Every message the local SNS sink received so far (`<dataDir>/alerts.jsonl`), oldest first. */
export async function sinkMessages(t: TestTwin): Promise<SinkMessage[]> {
  const text = await readFile(join(t.dataDir, 'alerts.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SinkMessage);
}

/** The message body of an alert as published: `{type, ...event}`. */
export interface AlertMessage {
  type: 'anomaly' | 'resolved';
  id: string;
  time: string;
  kind: 'alert' | 'resolved';
  model: string;
  version: string;
  rule: 'below_min' | 'above_max';
  severity: 'warning' | 'critical' | 'info';
  principal: string;
  plant?: string;
  inputs: Record<string, number>;
  prediction: number;
  interval: [number, number] | null;
  thresholds: { min: number; max: number };
  requestId: string;
}

/** The sink's messages about `principal`, bodies typed. */
export async function alertsFor(t: TestTwin, principal: string): Promise<(SinkMessage & { message: AlertMessage })[]> {
  return (await sinkMessages(t)).filter((m): m is SinkMessage & { message: AlertMessage } => (m.message as AlertMessage | undefined)?.principal === principal);
}

/** Runs `count` calls of `fn` over `concurrency` parallel workers; results in call order. */
export async function inParallel<T>(count: number, concurrency: number, fn: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await fn(i);
      }
    }),
  );
  return results;
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';
import { TwinApiError, TwinClient, maxBatchRows, parseRetryAfter, type TwinClientOptions } from '../../client/index.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { adminPassword, validRow, type TestTwin } from '../support/twin.js';

/**
 * The SDK against a local twin (every method once), and its retry, timeout and token-renewal policies
 * against a scripted fetch (no network, an injected sleep and random source: deterministic).
 */

let t: TestTwin;
let admin: TwinClient;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_ROUTING_CACHE_SECONDS: '0' });
  admin = new TwinClient({ baseUrl: t.url });
  await admin.login('admin', adminPassword);
});

afterAll(async () => {
  await t?.stop();
});

const row = (temp: number, pressure = 6, flow = 100) => ({ temp, pressure, flow });

describe('against the local twin', () => {
  it('logs in with a password: a token with its expiry and scopes', async () => {
    // Prepare
    const client = new TwinClient({ baseUrl: t.url });

    // Act
    const state = await client.login('admin', adminPassword);

    // Assess
    expect(state.token.split('.')).toHaveLength(3);
    expect(state.expiresAt! - Date.now()).toBeGreaterThan(3_000_000);
    expect(state.scope).toContain('twin:predict');
    expect(client.token).toEqual(state);
  });

  it('predicts one row, typed', async () => {
    // Act
    const res = await admin.predict(validRow);

    // Assess
    expect(res.user).toBe('admin');
    expect(res.prediction).toBeGreaterThan(80);
    expect(res.confidence_interval).toHaveLength(2);
    expect(res.model_version).toBe('1.0.0');
  });

  it('batches any number of rows in chunks of 100, reporting bad rows by their index in the whole list', async () => {
    // Prepare: 250 rows, two of them out of range.
    const rows = Array.from({ length: 250 }, (_, i) => row(300 + (i % 100), 6, 100));
    rows[5] = row(450);
    rows[150] = row(360, 60);
    const progress: number[] = [];

    // Act
    const res = await admin.batch(rows, { onProgress: (p) => progress.push(p.rows) });

    // Assess
    expect(res.chunks).toBe(3);
    expect(res).toMatchObject({ total: 250, successful: 248, failed: 2, model_versions: ['1.0.0'] });
    expect(res.errors.map((e) => e.index)).toEqual([5, 150]);
    expect(res.errors[1]!.issues[0]!.field).toBe('inputs.150.pressure');
    expect(res.results.map((r) => r.index)).toEqual(Array.from({ length: 250 }, (_, i) => i).filter((i) => i !== 5 && i !== 150));
    expect(res.results[0]!.input).toEqual(rows[0]);
    expect(progress).toEqual([100, 200, 250]);
    expect(maxBatchRows).toBe(100);
  });

  it('reads status, model info, metrics, health, and the Open Inference Protocol metadata and inference', async () => {
    // Act
    const [status, info, metrics, health, metadata, inferred, openapi] = await Promise.all([
      admin.status(),
      admin.modelInfo(),
      admin.metrics(),
      admin.health(),
      admin.modelMetadata('reactor-yield'),
      admin.infer('reactor-yield', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [360, 6, 100] }] }, { version: '1.0.0' }),
      admin.openapi(),
    ]);

    // Assess
    expect(status.status).toBe('operational');
    expect(info.features).toEqual(['temp', 'pressure', 'flow']);
    expect(metrics.total_requests).toBeGreaterThan(0);
    expect(health.status).toBe('healthy');
    expect(metadata.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 3] }]);
    expect(inferred.outputs[0]!.name).toBe('prediction');
    expect(openapi.openapi).toBe('3.1.0');
  });

  it('manages API keys, and logs in with one (client credentials)', async () => {
    // Act
    const created = await admin.keys.create({ name: 'sdk test', scopes: ['twin:predict', 'twin:read'] });
    const listed = await admin.keys.list();
    const machine = new TwinClient({ baseUrl: t.url });
    await machine.loginWithApiKey(created.key);
    const predicted = await machine.predict(validRow);
    const rotated = await admin.keys.rotate(created.id);
    const revoked = await admin.keys.revoke(created.id);
    const refused = await new TwinClient({ baseUrl: t.url }).loginWithApiKey(rotated.key).catch((e: unknown) => e);

    // Assess
    expect(created.key).toMatch(/^tw_/);
    expect(listed.map((k) => k.id)).toContain(created.id);
    expect(predicted.user).toBe('admin');
    expect(machine.token!.scope).toBe('twin:predict twin:read');
    expect(rotated.key).not.toBe(created.key);
    expect(revoked.status).toBe('revoked');
    expect(refused).toBeInstanceOf(TwinApiError);
    expect(refused).toMatchObject({ code: 'KEY_REVOKED', status: 401 });
    expect((refused as TwinApiError).requestId).toEqual(expect.any(String));
  });

  it('manages users', async () => {
    // Act
    const created = await admin.users.create({ username: 'sdk-operator', password: 'sdk-operator-pw', role: 'operator' });
    const updated = await admin.users.update('sdk-operator', { role: 'viewer' });
    const password = await admin.users.setPassword('sdk-operator', 'sdk-operator-pw-2');
    const users = await admin.users.list();
    const viewer = new TwinClient({ baseUrl: t.url });
    await viewer.login('sdk-operator', 'sdk-operator-pw-2');

    // Assess
    expect(created).toMatchObject({ username: 'sdk-operator', role: 'operator', active: true });
    expect(updated.role).toBe('viewer');
    expect(password).toEqual({ username: 'sdk-operator', updated: true });
    expect(users.map((u) => u.username)).toContain('sdk-operator');
    await expect(viewer.predict(validRow)).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 });
  });

  it('manages models: list, versions, publish, activate, rollback, routing, stats, download', async () => {
    // Prepare
    const dir = join(repoRoot, 'models', 'reactor-yield', '1.0.0');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const model = new Uint8Array(await readFile(join(dir, 'model.onnx')));

    // Act
    const published = await admin.models.publish('reactor-yield', { manifest: { ...manifest, version: '1.0.2' }, model });
    const again = await admin.models.publish('reactor-yield', { manifest: { ...manifest, version: '1.0.2' }, model });
    const activated = await admin.models.activate('reactor-yield', '1.0.2');
    const rolledBack = await admin.models.rollback('reactor-yield');
    const routed = await admin.models.routing('reactor-yield', { variants: [{ version: '1.0.0', weight: 1 }] });
    const list = await admin.models.list();
    const versions = await admin.models.versions('reactor-yield');
    const stats = await admin.models.stats('reactor-yield');
    const downloaded = await admin.models.download('reactor-yield', '1.0.2');

    // Assess
    expect(published).toMatchObject({ version: '1.0.2', published: true });
    expect(again).toMatchObject({ published: false, already_published: true });
    expect(activated.routing.active).toBe('1.0.2');
    expect(rolledBack.routing.active).toBe('1.0.0');
    expect(routed.routing.variants).toEqual([{ version: '1.0.0', weight: 1 }]);
    expect(list.models[0]!.versions).toEqual(['1.0.0', '1.0.2']);
    expect(versions.versions.map((v) => v.version)).toEqual(['1.0.0', '1.0.2']);
    expect(stats.variants.length).toBeGreaterThan(0);
    expect(Buffer.from(downloaded.model_base64!, 'base64').equals(Buffer.from(model))).toBe(true);
  });

  it('reads the audit log page by page, and the alerts', async () => {
    // Prepare: a prediction far below the alert band.
    await admin.predict(row(300));

    // Act
    const page = await admin.audit({ action: 'twin.predict', limit: 2 });
    const all: string[] = [];
    for await (const record of admin.auditAll({ action: 'twin.predict', limit: 2 })) all.push(record.requestId);
    const alerts = await admin.alerts({ limit: 5 });

    // Assess
    expect(page.items).toHaveLength(2);
    expect(page.next_cursor).toEqual(expect.any(String));
    expect(all.length).toBeGreaterThan(2);
    expect(new Set(all).size).toBe(all.length);
    expect(alerts.alerts[0]).toMatchObject({ rule: 'below_min', model: 'reactor-yield' });
  });

  it('any route through call(), typed by its route key', async () => {
    // Act
    const res = await admin.call('GET /api/v1/models/{name}/versions', { params: { name: 'reactor-yield' } });

    // Assess
    expect(res.name).toBe('reactor-yield');
  });

  it('fails with the API’s code, status, request id and field issues', async () => {
    // Act
    const invalid = (await admin.predict(row(460)).catch((e: unknown) => e)) as TwinApiError;
    const anonymous = (await new TwinClient({ baseUrl: t.url }).status().catch((e: unknown) => e)) as TwinApiError;
    const protocol = (await admin.infer('reactor-yield', { inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }).catch((e: unknown) => e)) as TwinApiError;

    // Assess
    expect(invalid).toBeInstanceOf(TwinApiError);
    expect(invalid).toMatchObject({ code: 'INVALID_INPUT', status: 400, message: 'temp=460 out of range [300, 400]' });
    expect(invalid.requestId).toMatch(/\S/);
    expect(invalid.issues).toEqual([{ field: 'temp', rule: 'range', message: 'temp=460 out of range [300, 400]' }]);
    expect(anonymous).toMatchObject({ code: 'UNAUTHORIZED', status: 401, message: 'Unauthorized' });
    expect(protocol).toMatchObject({ code: 'INVALID_INPUT', status: 400 });
    expect(protocol.requestId).toMatch(/\S/);
  });

  it('renews the token before it expires, and once after a 401', async () => {
    // Prepare: a clock the test moves; tokens live 3600 s, renewed in the last 60 s.
    let skewMs = 0;
    const client = new TwinClient({ baseUrl: t.url, now: () => Date.now() + skewMs });
    const first = (await client.login('admin', adminPassword)).token;

    // Act: 59 minutes and a half later, the next call renews first.
    skewMs = 3_570_000;
    await client.status();
    const renewed = client.token!.token;
    // A token the server rejects (here: garbage) is renewed once and the call repeated.
    client.setToken('not-a-token', Date.now() + 3_600_000 + skewMs);
    const status = await client.status();

    // Assess
    expect(renewed).not.toBe(first);
    expect(status.status).toBe('operational');
    expect(client.token!.token).not.toBe('not-a-token');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Policies, against a scripted fetch

interface Scripted {
  client: TwinClient;
  calls: { url: string; method: string }[];
  sleeps: number[];
}

/** A client whose fetch answers from `script` in order (a Response, or an Error to throw). */
function scripted(script: (Response | Error | 'hang')[], options: Partial<TwinClientOptions> = {}): Scripted {
  const calls: { url: string; method: string }[] = [];
  const sleeps: number[] = [];
  const fetchFn = (async (url: string, init: RequestInit) => {
    calls.push({ url, method: init.method ?? 'GET' });
    const next = script.shift();
    if (!next) throw new Error('script exhausted');
    if (next === 'hang') {
      return new Promise<Response>((_, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    }
    if (next instanceof Error) throw next;
    return next;
  }) as unknown as typeof fetch;
  const client = new TwinClient({
    baseUrl: 'http://twin.test',
    token: 'tok',
    fetch: fetchFn,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
  return { client, calls, sleeps };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-request-id': `req-${status}`, ...headers } });
const envelope = (code: string, message: string) => ({ error: { code, message, requestId: 'rid-1' }, message });
const statusBody = { status: 'operational', model_info: {}, user: 'admin' };

describe('retries, timeouts and errors', () => {
  it('retries a 429 after its Retry-After, then succeeds', async () => {
    // Prepare
    const retries: number[] = [];
    const s = scripted([json(429, envelope('RATE_LIMITED', 'Rate limit exceeded'), { 'retry-after': '2' }), json(200, statusBody)], {
      onRetry: (info) => retries.push(info.status),
    });

    // Act
    const res = await s.client.status();

    // Assess
    expect(res.status).toBe('operational');
    expect(s.calls).toHaveLength(2);
    expect(s.sleeps).toEqual([2000 + 125]); // Retry-After plus jitter (0.5 × 250 ms)
    expect(retries).toEqual([429]);
  });

  it('gives up at once when Retry-After is longer than the longest wait', async () => {
    // Prepare
    const s = scripted([json(429, envelope('RATE_LIMITED', 'Rate limit exceeded'), { 'retry-after': '45' })], { maxBackoffMs: 10_000 });

    // Act
    const error = (await s.client.status().catch((e: unknown) => e)) as TwinApiError;

    // Assess
    expect(error).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterSeconds: 45, requestId: 'rid-1' });
    expect(s.sleeps).toEqual([]);
  });

  it('retries 5xx of an idempotent call with jittered exponential backoff, bounded', async () => {
    // Prepare
    const s = scripted([json(503, { message: 'Service Unavailable' }), json(502, { message: 'Bad Gateway' }), json(500, envelope('INTERNAL', 'Internal server error'))], {
      retries: 2,
      backoffMs: 100,
    });

    // Act
    const error = (await s.client.predict(validRow).catch((e: unknown) => e)) as TwinApiError;

    // Assess: 3 attempts, waits 0.5 × 100 × 2^n.
    expect(s.calls).toHaveLength(3);
    expect(s.sleeps).toEqual([50, 100]);
    expect(error).toMatchObject({ code: 'INTERNAL', status: 500, requestId: 'rid-1' });
  });

  it('never repeats a non-idempotent write after a 5xx (creating a key twice would make two keys)', async () => {
    // Prepare
    const s = scripted([json(500, envelope('INTERNAL', 'Internal server error'))]);

    // Act
    const error = (await s.client.keys.create({ name: 'k' }).catch((e: unknown) => e)) as TwinApiError;

    // Assess
    expect(error.status).toBe(500);
    expect(s.calls).toHaveLength(1);
  });

  it('retries network failures of reads; maps them to NETWORK_ERROR when they persist', async () => {
    // Prepare
    const s = scripted([new TypeError('fetch failed'), json(200, statusBody)]);
    const t2 = scripted([new TypeError('fetch failed'), new TypeError('fetch failed')], { retries: 1 });

    // Act
    const ok = await s.client.status();
    const error = (await t2.client.status().catch((e: unknown) => e)) as TwinApiError;

    // Assess
    expect(ok.status).toBe('operational');
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
  });

  it('times out an attempt that gets no answer (TIMEOUT), and retries it when idempotent', async () => {
    // Prepare
    const s = scripted(['hang', 'hang'], { timeoutMs: 20, retries: 1 });

    // Act
    const error = (await s.client.status().catch((e: unknown) => e)) as TwinApiError;

    // Assess
    expect(error).toMatchObject({ code: 'TIMEOUT', status: 0 });
    expect(s.calls).toHaveLength(2);
  });

  it('reads the Open Inference Protocol’s error and the gateway’s {message}', async () => {
    // Prepare
    const s = scripted([json(400, { error: 'unknown output x', code: 'INVALID_REQUEST', requestId: 'rid-2' }), json(403, { message: 'Forbidden' })]);

    // Act
    const protocol = (await s.client.infer('m', { inputs: [] }).catch((e: unknown) => e)) as TwinApiError;
    const gateway = (await s.client.status().catch((e: unknown) => e)) as TwinApiError;

    // Assess
    expect(protocol).toMatchObject({ code: 'INVALID_REQUEST', message: 'unknown output x', requestId: 'rid-2', status: 400 });
    expect(gateway).toMatchObject({ code: 'FORBIDDEN', message: 'Forbidden', requestId: 'req-403', status: 403 });
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter(new Date(Date.parse('2026-01-01T00:00:30Z')).toUTCString(), Date.parse('2026-01-01T00:00:00Z'))).toBe(30);
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('browsers', () => {
  it('bundles for the browser with no runtime imports (no zod, no node: modules)', async () => {
    // Act
    const result = await build({ entryPoints: [join(repoRoot, 'client', 'index.ts')], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });

    // Assess
    const code = result.outputFiles[0]!.text;
    expect(code).toMatch(/var TwinClient = class|class TwinClient/);
    expect(code).not.toMatch(/from\s+["'](zod|node:)/);
    expect(code).not.toMatch(/require\(/);
    expect(code.length).toBeLessThan(60_000);
  });
});

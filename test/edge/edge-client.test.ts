import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditWindows, EdgeSyncError, exportAudit, importAudit, maxAuditWindowMs, parseSince, pullModel, type FetchLike } from '../../client/edge.js';
import { encodeGraph, externalTensor, linearGraph, linearManifest } from '../support/hostile-models.js';
import { referencePackageDir } from './support.js';

/**
 * client/edge.ts against a scripted server (an injected fetch): argument parsing, the 31-day windows,
 * pagination, chunking, retries, and every way a pulled package or an export file can be wrong. The real
 * server round trip is sync.test.ts.
 */

const now = Date.parse('2026-11-25T12:00:00.000Z');
const day = 86_400_000;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'twinserve-edge-client-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Call {
  method: string;
  url: URL;
  body: any;
  authorization: string | null;
}

/** A fetch answering from `route`; records every call. */
function scripted(route: (call: Call) => { status?: number; json?: unknown; headers?: Record<string, string> }): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      const call: Call = {
        method: init.method ?? 'GET',
        url,
        body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
        authorization: new Headers(init.headers).get('authorization'),
      };
      calls.push(call);
      const answer = route(call);
      return new Response(JSON.stringify(answer.json ?? {}), { status: answer.status ?? 200, headers: { 'content-type': 'application/json', ...answer.headers } });
    },
  };
}

describe('parseSince', () => {
  it('takes durations back from now and ISO times', () => {
    expect(parseSince('90s', now).toISOString()).toBe('2026-11-25T11:58:30.000Z');
    expect(parseSince('30m', now).toISOString()).toBe('2026-11-25T11:30:00.000Z');
    expect(parseSince('1h', now).toISOString()).toBe('2026-11-25T11:00:00.000Z');
    expect(parseSince('7d', now).toISOString()).toBe('2026-11-18T12:00:00.000Z');
    expect(parseSince('2w', now).toISOString()).toBe('2026-11-11T12:00:00.000Z');
    expect(parseSince('2026-11-20T06:00:00Z', now).toISOString()).toBe('2026-11-20T06:00:00.000Z');
    expect(parseSince('2026-11-20T06:00:00.250+01:00', now).toISOString()).toBe('2026-11-20T05:00:00.250Z');
    expect(parseSince('2026-11-20', now).toISOString()).toBe('2026-11-20T00:00:00.000Z');
  });

  it.each(['', 'yesterday', '0h', '1y', '-1h', '1.5h', '2026-13-01', '2026-11-20 06:00', '1e3m'])('refuses %j', (value) => {
    expect(() => parseSince(value, now)).toThrow(EdgeSyncError);
    try {
      parseSince(value, now);
    } catch (error) {
      expect((error as EdgeSyncError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('auditWindows', () => {
  it('covers the range with consecutive windows the API accepts (at most 31 days, both ends inclusive)', () => {
    for (const span of [0, 1, day, 31 * day - 1, 31 * day, 31 * day + 1, 40 * day, 95 * day + 12_345]) {
      const windows = auditWindows(now - span, now);
      expect(windows[0]!.from).toBe(new Date(now - span).toISOString());
      expect(windows.at(-1)!.to).toBe(new Date(now).toISOString());
      windows.forEach((w, i) => {
        const length = Date.parse(w.to) - Date.parse(w.from);
        expect(length).toBeGreaterThanOrEqual(0);
        expect(length).toBeLessThan(maxAuditWindowMs);
        if (i > 0) expect(Date.parse(w.from)).toBe(Date.parse(windows[i - 1]!.to) + 1);
      });
      expect(windows).toHaveLength(Math.max(1, Math.ceil((span + 1) / maxAuditWindowMs)));
    }
  });

  it('refuses since after until', () => {
    expect(() => auditWindows(now + 1, now)).toThrow(/must not be after/);
  });
});

describe('exportAudit', () => {
  /** Three records a day over the last 70 days; served newest first, two per page, like the real API. */
  const records = Array.from({ length: 70 * 3 }, (_, i) => ({
    time: new Date(now - 1000 - i * (day / 3)).toISOString(),
    requestId: `req-${i}`,
    principal: 'admin',
    action: 'twin.predict',
    outcome: 200,
  }));
  const alertEvents = (model: string, count: number, step = day) =>
    Array.from({ length: count }, (_, i) => ({ id: `${model}-${i}`, time: new Date(now - 60_000 - i * step).toISOString(), kind: 'alert', model, requestId: `r-${model}-${i}` }));

  function server(options: { failOnPage?: number; alerts?: Record<string, unknown[]> } = {}) {
    let pages = 0;
    return scripted((call) => {
      const path = call.url.pathname;
      if (path === '/api/v1/models') return { json: { models: Object.keys(options.alerts ?? { 'reactor-yield': [] }).map((name) => ({ name })) } };
      if (path === '/api/v1/alerts') return { json: { alerts: (options.alerts ?? {})[call.url.searchParams.get('model')!] ?? [] } };
      if (path === '/api/v1/audit') {
        pages++;
        if (pages === options.failOnPage) return { status: 500, json: { error: { code: 'INTERNAL', message: 'Internal server error' } } };
        const from = call.url.searchParams.get('from')!;
        const to = call.url.searchParams.get('to')!;
        if (Date.parse(to) - Date.parse(from) > 31 * day) return { status: 400, json: { error: { message: 'the time range may span at most 31 days' } } };
        const inRange = records.filter((r) => r.time >= from && r.time <= to);
        const offset = Number(call.url.searchParams.get('cursor') ?? 0);
        const limit = Math.min(2, Number(call.url.searchParams.get('limit')));
        return { json: { items: inRange.slice(offset, offset + limit), next_cursor: offset + limit < inRange.length ? String(offset + limit) : null } };
      }
      return { status: 404, json: { message: 'Not Found' } };
    });
  }

  it('walks every page of every ≤31-day window and every model, and writes JSON lines', async () => {
    const { fetch, calls } = server({ alerts: { 'reactor-yield': alertEvents('reactor-yield', 5, 20 * day), 'other-model': alertEvents('other-model', 2) } });
    const out = join(work, 'export.jsonl');
    const result = await exportAudit({ url: 'http://edge.test/', token: 'tok', since: new Date(now - 50 * day), until: new Date(now), out, fetch });
    expect(result).toMatchObject({ windows: 2, alertsComplete: true, from: new Date(now - 50 * day).toISOString(), to: new Date(now).toISOString() });
    const expected = records.filter((r) => Date.parse(r.time) >= now - 50 * day);
    expect(result.audit).toBe(expected.length);
    // 5 alerts 20 days apart: 3 of them in the last 50 days; both of the other model's.
    expect(result.alerts).toBe(3 + 2);
    const lines = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.kind === 'audit').map((l) => l.record.requestId).sort()).toEqual(expected.map((r) => r.requestId).sort());
    expect(lines.filter((l) => l.kind === 'alert').map((l) => l.event.id).sort()).toEqual(['other-model-0', 'other-model-1', 'reactor-yield-0', 'reactor-yield-1', 'reactor-yield-2']);
    expect(calls.every((c) => c.authorization === 'Bearer tok')).toBe(true);
    expect(calls.filter((c) => c.url.pathname === '/api/v1/audit').every((c) => c.url.searchParams.get('limit') === '200')).toBe(true);
  });

  it('says when a model had more alerts in the range than the API returns at once', async () => {
    const { fetch } = server({ alerts: { 'reactor-yield': alertEvents('reactor-yield', 200, 60_000) } });
    const result = await exportAudit({ url: 'http://edge.test', token: 'tok', since: '1d', out: new PassThrough(), fetch, now: () => now });
    expect(result.alertsComplete).toBe(false);
    expect(result.alerts).toBe(200);
  });

  it('writes to a stream, and asks only the server default model when the token may not list models', async () => {
    const { fetch, calls } = scripted((call) => {
      if (call.url.pathname === '/api/v1/models') return { status: 403, json: { message: 'Forbidden' } };
      if (call.url.pathname === '/api/v1/alerts') return { json: { alerts: [] } };
      return { json: { items: [records[0]], next_cursor: null } };
    });
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const result = await exportAudit({ url: 'http://edge.test', token: 'tok', since: '1h', out: stream, fetch, now: () => now });
    expect(result.audit).toBe(1);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(`${JSON.stringify({ kind: 'audit', record: records[0] })}\n`);
    expect(calls.find((c) => c.url.pathname === '/api/v1/alerts')!.url.searchParams.has('model')).toBe(false);
  });

  it('leaves no file, not even a partial one, when the server fails midway', async () => {
    const dir = join(work, 'failing');
    await mkdir(dir);
    const { fetch } = server({ failOnPage: 3 });
    const failed = exportAudit({ url: 'http://edge.test', token: 'tok', since: new Date(now - 10 * day), until: new Date(now), out: join(dir, 'export.jsonl'), fetch });
    await expect(failed).rejects.toMatchObject({ code: 'HTTP', status: 500, message: expect.stringContaining('Internal server error') });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('importAudit', () => {
  async function exportFile(name: string, audit: number, alerts: number, extra: string[] = []): Promise<string> {
    const lines = [
      ...Array.from({ length: audit }, (_, i) => JSON.stringify({ kind: 'audit', record: { requestId: `a${i}` } })),
      ...Array.from({ length: alerts }, (_, i) => JSON.stringify({ kind: 'alert', event: { id: `e${i}` } })),
      ...extra,
    ];
    const file = join(work, name);
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('posts at most 500 items a request, sums the answers, and skips blank lines', async () => {
    const file = await exportFile('big.jsonl', 1100, 150, ['', '   ']);
    const { fetch, calls } = scripted((call) => ({
      json: { audit: { stored: call.body.audit.length - 1, duplicate: 1 }, alerts: { stored: call.body.alerts.length, duplicate: 0 } },
    }));
    const result = await importAudit({ url: 'http://cloud.test/twin/', token: 'admin-tok', file, fetch });
    expect(calls.map((c) => c.body.audit.length + c.body.alerts.length)).toEqual([500, 500, 250]);
    expect(calls.every((c) => c.method === 'POST' && c.url.href === 'http://cloud.test/twin/api/v1/audit/import')).toBe(true);
    expect(result).toEqual({ audit: { stored: 1100 - 3, duplicate: 3, expired: 0 }, alerts: { stored: 150, duplicate: 0, expired: 0 }, lines: 1250, requests: 3 });
  });

  it('stops at a line that is not an exported record, naming the line', async () => {
    for (const bad of ['{not json', '{"kind":"audit","requestId":"flat"}', '{"kind":"metric","record":{}}', '[1,2]']) {
      const file = await exportFile('bad.jsonl', 2, 0, [bad]);
      const { fetch, calls } = scripted(() => ({ json: {} }));
      await expect(importAudit({ url: 'http://cloud.test', token: 't', file, fetch })).rejects.toMatchObject({ code: 'INVALID_FILE', message: expect.stringContaining('bad.jsonl:3:') });
      expect(calls).toEqual([]);
    }
  });

  it('retries after a 429 (the import is idempotent) and reports the lines of a refused chunk', async () => {
    const file = await exportFile('retry.jsonl', 3, 0);
    let n = 0;
    const { fetch, calls } = scripted(() =>
      ++n === 1
        ? { status: 429, headers: { 'retry-after': '0' }, json: { message: 'Rate limit exceeded' } }
        : { json: { audit: { stored: 3, duplicate: 0 }, alerts: { stored: 0, duplicate: 0 } } },
    );
    await expect(importAudit({ url: 'http://cloud.test', token: 't', file, fetch })).resolves.toMatchObject({ audit: { stored: 3, duplicate: 0 }, requests: 1 });
    expect(calls).toHaveLength(2);

    const refused = scripted(() => ({ status: 400, json: { error: { code: 'INVALID_REQUEST', message: 'audit.1.time: Invalid ISO datetime' } } }));
    await expect(importAudit({ url: 'http://cloud.test', token: 't', file, fetch: refused.fetch })).rejects.toMatchObject({
      code: 'HTTP',
      status: 400,
      message: expect.stringMatching(/retry\.jsonl lines 1-3: POST \/api\/v1\/audit\/import answered 400: audit\.1\.time/),
    });
  });

  it('refuses a chunk size the route cannot take, and a missing file', async () => {
    await expect(importAudit({ url: 'http://cloud.test', token: 't', file: 'x', chunkSize: 501 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(importAudit({ url: 'http://cloud.test', token: 't', file: join(work, 'absent.jsonl') })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('pullModel', () => {
  let manifest: Record<string, any>;
  let model: Buffer;

  beforeAll(async () => {
    manifest = JSON.parse(await readFile(join(referencePackageDir, 'manifest.json'), 'utf8')) as Record<string, any>;
    model = await readFile(join(referencePackageDir, 'model.onnx'));
  });

  function packageServer(body: (m: Record<string, any>, bytes: Buffer) => unknown) {
    return scripted(() => ({ json: body(structuredClone(manifest), Buffer.from(model)) }));
  }
  const good = (m: Record<string, any>, bytes: Buffer) => ({ name: m.name, version: m.version, sha256: m.sha256, manifest: m, model_base64: bytes.toString('base64') });

  it('writes the verified package atomically and leaves no staging directory', async () => {
    const { fetch, calls } = packageServer(good);
    const outDir = join(work, 'pull-ok');
    const result = await pullModel({ from: 'https://cloud.test', token: 'tok', name: 'reactor-yield', version: '1.0.0', outDir, fetch });
    expect(calls[0]!.url.href).toBe('https://cloud.test/api/v1/models/reactor-yield/versions/1.0.0/package');
    expect(result).toMatchObject({ written: true, sha256: manifest.sha256, bytes: model.length });
    expect((await readFile(join(outDir, 'reactor-yield', '1.0.0', 'model.onnx'))).equals(model)).toBe(true);
    expect(await readdir(join(outDir, 'reactor-yield'))).toEqual(['1.0.0']);
  });

  it.each([
    ['a model.onnx that does not match the manifest', (m: Record<string, any>, b: Buffer) => ({ ...good(m, b), model_base64: Buffer.concat([b, Buffer.from([0])]).toString('base64') }), /model\.onnx digest mismatch/],
    ['a response digest that differs from the bytes', (m: Record<string, any>, b: Buffer) => ({ ...good(m, b), sha256: '0'.repeat(64) }), /the response says sha256 0{64}/],
    ['an invalid manifest', (m: Record<string, any>, b: Buffer) => good({ ...m, features: [] }, b), /manifest\.json is invalid: features/],
    ['another version than asked for', (m: Record<string, any>, b: Buffer) => good({ ...m, version: '1.0.1' }, b), /the server sent reactor-yield@1\.0\.1/],
    [
      'a graph that reads a file (external data)',
      () => {
        const graph = linearGraph();
        graph.graph!.initializer![0] = externalTensor('W', [3, 1], 'secret.bin');
        const bytes = Buffer.from(encodeGraph(graph));
        return good(linearManifest(bytes), bytes);
      },
      /the graph is refused: external_data/,
    ],
  ])('refuses %s, writing nothing', async (_label, body, message) => {
    const { fetch } = packageServer(body);
    const outDir = join(work, `pull-bad-${Math.random().toString(36).slice(2)}`);
    await expect(pullModel({ from: 'https://cloud.test', token: 'tok', name: 'reactor-yield', version: '1.0.0', outDir, fetch })).rejects.toMatchObject({
      code: 'PACKAGE_INVALID',
      message: expect.stringMatching(message),
    });
    await expect(readdir(outDir)).rejects.toThrow();
  });

  it('refuses names and versions that are not ones, before any request', async () => {
    const { fetch, calls } = packageServer(good);
    for (const [name, version] of [['../etc', '1.0.0'], ['reactor-yield', '../../x'], ['Reactor', '1.0.0'], ['reactor-yield', 'latest']] as const) {
      await expect(pullModel({ from: 'https://cloud.test', token: 'tok', name, version, outDir: work, fetch })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(calls).toEqual([]);
  });

  it('never overwrites a directory that holds something else; an empty one is fine', async () => {
    const { fetch } = packageServer(good);
    const outDir = join(work, 'pull-occupied');
    const dir = join(outDir, 'reactor-yield', '1.0.0');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await expect(pullModel({ from: 'https://cloud.test', token: 'tok', name: 'reactor-yield', version: '1.0.0', outDir, fetch })).rejects.toMatchObject({ code: 'PACKAGE_CONFLICT' });
    expect(await readdir(dir)).toEqual(['notes.txt']);
    await writeFile(join(dir, 'model.onnx'), model);
    await expect(pullModel({ from: 'https://cloud.test', token: 'tok', name: 'reactor-yield', version: '1.0.0', outDir, fetch })).rejects.toMatchObject({
      code: 'PACKAGE_CONFLICT',
      message: expect.stringContaining('incomplete package'),
    });

    await rm(dir, { recursive: true });
    await mkdir(dir);
    await expect(pullModel({ from: 'https://cloud.test', token: 'tok', name: 'reactor-yield', version: '1.0.0', outDir, fetch })).resolves.toMatchObject({ written: true });
  });

  it('reports the API error message and status', async () => {
    const { fetch } = scripted(() => ({ status: 404, json: { error: { code: 'MODEL_NOT_FOUND', message: 'Model reactor-yield@2.0.0 not found' } } }));
    await expect(pullModel({ from: 'https://cloud.test', token: 'tok', name: 'reactor-yield', version: '2.0.0', outDir: work, fetch })).rejects.toMatchObject({
      code: 'HTTP',
      status: 404,
      message: 'GET /api/v1/models/reactor-yield/versions/2.0.0/package answered 404: Model reactor-yield@2.0.0 not found',
    });
  });
});

/**
 * Edge sync: moving model packages to an edge twin, and the edge's audit records and alerts back to a cloud
 * deployment. Plain functions over `fetch`; no argument parsing, no printing, no process exit.
 *
 * Wiring: the `twin` CLI (client/cli.ts, written separately) maps its commands onto these; suggested:
 *   `twin models pull <name> <version> --from <url>`  -> {@link pullModel}
 *   `twin audit export --since <1h|30m|7d|ISO> [--until] --out <file>` -> {@link parseSince} + {@link exportAudit}
 *   `twin audit import <file> --to <url>`             -> {@link importAudit}
 *   `twin edge --model <dir|.tgz> [--host --tls-cert --tls-key --allow-insecure-http]`
 *                                                    -> the same as `npm start -- --edge ...` (infra/local/start.ts)
 * Failures throw {@link EdgeSyncError}; its `code` says which kind (for exit codes and messages).
 *
 * The export file is JSON lines, one record per line, in an envelope so that a record's own fields never
 * clash with the line's discriminator (alert events have a `kind` of their own, `alert` or `resolved`):
 *   {"kind":"audit","record":{...as GET /api/v1/audit returns it}}
 *   {"kind":"alert","event":{...as GET /api/v1/alerts returns it}}
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import * as z from 'zod';
import { inspectModelGraph } from '../functions/core/models/graph-check.js';
import { modelNameSchema, parseManifestText, semverSchema, sha256Hex, verifyPackage, type ModelManifest } from '../functions/core/manifest.js';

export type EdgeSyncErrorCode =
  /** A bad argument (since, name, version, chunk size). */
  | 'INVALID_ARGUMENT'
  /** The server answered an error status. */
  | 'HTTP'
  /** The server answered 2xx with a body of the wrong shape. */
  | 'INVALID_RESPONSE'
  /** A downloaded package fails its checks (manifest schema, digest, name or version). */
  | 'PACKAGE_INVALID'
  /** A different package already sits where the pulled one would go. */
  | 'PACKAGE_CONFLICT'
  /** An export file line is not what `exportAudit` writes. */
  | 'INVALID_FILE';

export class EdgeSyncError extends Error {
  override readonly name = 'EdgeSyncError';
  readonly code: EdgeSyncErrorCode;
  /** The HTTP status, for `HTTP`. */
  readonly status: number | undefined;

  constructor(code: EdgeSyncErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
  }
}

/** What the sync functions need of `fetch` (injectable for tests and custom TLS agents). */
export type FetchLike = (input: URL, init: RequestInit) => Promise<Response>;

interface Connection {
  /** Base URL of a running Twinserve, cloud or local: `https://twin.example.com`, `http://127.0.0.1:3000`. */
  url: string;
  /** A bearer token (`POST /api/v1/auth/login` or the client-credentials exchange). */
  token: string;
  fetch?: FetchLike;
}

/** The API caps an audit query at 31 days (functions/core/audit/service.ts). */
export const maxAuditWindowMs = 31 * 86_400_000;
/** The import route takes at most 1000 audit records and 1000 alerts; we send at most 500 items per request. */
export const maxImportChunk = 500;
const auditPageSize = 200;
const alertsLimit = 200;
const maxRateLimitRetries = 5;

// ---------------------------------------------------------------------------------------------------------
// HTTP

function endpoint(base: string, path: string): URL {
  let root: URL;
  try {
    root = new URL(base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new EdgeSyncError('INVALID_ARGUMENT', `not a URL: ${base}`);
  }
  if (root.protocol !== 'https:' && root.protocol !== 'http:') throw new EdgeSyncError('INVALID_ARGUMENT', `not an http(s) URL: ${base}`);
  // Relative to the base, so a base with a path prefix (a proxy's /twin/) keeps it.
  return new URL(path.replace(/^\//, ''), root);
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof body.error === 'object' && typeof body.error?.message === 'string') return body.error.message;
    if (typeof body.message === 'string') return body.message;
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 200) || '(empty body)';
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * One API call: bearer token, JSON in and out, the response checked against `schema`. A 429 is retried
 * after its Retry-After (at most 60 s, at most 5 times): every call here is safe to repeat (GETs, and the
 * import is idempotent).
 */
async function call<T>(connection: Connection, method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
  const url = endpoint(connection.url, path);
  const doFetch: FetchLike = connection.fetch ?? ((input, init) => fetch(input, init));
  const init: RequestInit = {
    method,
    headers: {
      authorization: `Bearer ${connection.token}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await doFetch(url, init);
    } catch (error) {
      // Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate error) is its cause.
      const reason = (error as Error & { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new EdgeSyncError('HTTP', `${method} ${url.origin}${url.pathname} failed: ${reason}`, { cause: error });
    }
    const text = await response.text();
    if (response.status === 429 && attempt < maxRateLimitRetries) {
      const retryAfter = Number(response.headers.get('retry-after') ?? 'missing');
      await sleep(Math.min(60, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : 1) * 1000);
      continue;
    }
    if (!response.ok) {
      throw new EdgeSyncError('HTTP', `${method} ${url.pathname} answered ${response.status}: ${errorMessage(text)}`, { status: response.status });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new EdgeSyncError('INVALID_RESPONSE', `${method} ${url.pathname} answered ${response.status} with a body that is not JSON`, { cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new EdgeSyncError('INVALID_RESPONSE', `${method} ${url.pathname}: unexpected response (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`);
    }
    return parsed.data;
  }
}

// ---------------------------------------------------------------------------------------------------------
// models pull

export interface PullModelOptions {
  /** Base URL of the Twinserve to download from (cloud or local). */
  from: string;
  /** A bearer token with `models:read`. */
  token: string;
  name: string;
  version: string;
  /** The package lands in `<outDir>/<name>/<version>/{manifest.json,model.onnx}`, the layout `--edge --model` takes. */
  outDir: string;
  fetch?: FetchLike;
}

export interface PullModelResult {
  /** `<outDir>/<name>/<version>`. */
  dir: string;
  manifest: ModelManifest;
  sha256: string;
  /** Size of model.onnx. */
  bytes: number;
  /** False when the identical package was already there (nothing written). */
  written: boolean;
}

const packageResponseSchema = z.object({
  name: z.string(),
  version: z.string(),
  sha256: z.string(),
  manifest: z.unknown(),
  model_base64: z.string().min(1),
});

/**
 * Downloads a published package (`GET /api/v1/models/{name}/versions/{version}/package`), verifies it
 * (manifest schema, the SHA-256 of the decoded model.onnx against the manifest and the response, name and
 * version), and writes it atomically: into a temporary sibling directory, then one rename. An identical
 * package already in place is left alone; a different one is never overwritten (versions are immutable).
 */
export async function pullModel(options: PullModelOptions): Promise<PullModelResult> {
  if (!modelNameSchema.safeParse(options.name).success) throw new EdgeSyncError('INVALID_ARGUMENT', `not a model name: ${JSON.stringify(options.name)}`);
  if (!semverSchema.safeParse(options.version).success) throw new EdgeSyncError('INVALID_ARGUMENT', `not a semantic version: ${JSON.stringify(options.version)}`);
  const ref = `${options.name}@${options.version}`;
  const body = await call(
    { url: options.from, token: options.token, ...(options.fetch ? { fetch: options.fetch } : {}) },
    'GET',
    `/api/v1/models/${encodeURIComponent(options.name)}/versions/${encodeURIComponent(options.version)}/package`,
    packageResponseSchema,
  );
  const bytes = new Uint8Array(Buffer.from(body.model_base64, 'base64'));
  let manifest: ModelManifest;
  try {
    manifest = verifyPackage(`${ref} from ${options.from}`, body.manifest, bytes);
  } catch (error) {
    throw new EdgeSyncError('PACKAGE_INVALID', (error as Error).message, { cause: error });
  }
  // A package is untrusted input, like code: refuse here what the edge twin would refuse at load.
  const graph = inspectModelGraph(bytes, manifest);
  if (!graph.ok) {
    throw new EdgeSyncError('PACKAGE_INVALID', `${ref}: the graph is refused: ${graph.violations.map((v) => `${v.rule}: ${v.message}`).join('; ')}`);
  }
  const digest = sha256Hex(bytes);
  if (body.sha256 !== digest) {
    throw new EdgeSyncError('PACKAGE_INVALID', `${ref}: the response says sha256 ${body.sha256}, the downloaded model.onnx is ${digest}`);
  }
  if (manifest.name !== options.name || manifest.version !== options.version || body.name !== options.name || body.version !== options.version) {
    throw new EdgeSyncError('PACKAGE_INVALID', `${ref}: the server sent ${body.name}@${body.version} with a manifest for ${manifest.name}@${manifest.version}`);
  }

  const parent = resolve(options.outDir, options.name);
  const dir = join(parent, options.version);
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  const result = { dir, manifest, sha256: digest, bytes: bytes.length };
  const existing = await readExistingPackage(dir);
  if (existing !== undefined) {
    assertSamePackage(dir, existing, manifest);
    return { ...result, written: false };
  }

  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${options.version}.pull-`));
  try {
    // On disk before the rename, so a power cut (edge boxes have them) leaves no complete-looking torn package.
    await writeDurably(join(staging, 'model.onnx'), bytes);
    await writeDurably(join(staging, 'manifest.json'), manifestText);
    try {
      await rename(staging, dir);
      await syncDirectory(parent);
    } catch (error) {
      // Someone else put a package there meanwhile: fine if it is this one.
      const raced = await readExistingPackage(dir);
      if (raced === undefined) throw error;
      assertSamePackage(dir, raced, manifest);
      return { ...result, written: false };
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { ...result, written: true };
}

async function writeDurably(path: string, data: string | Uint8Array): Promise<void> {
  const file = await open(path, 'wx', 0o644);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Makes a rename in `dir` durable; best effort (not every platform can open a directory). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

type ExistingPackage = { manifest: ModelManifest } | { problem: string };

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** What is at `dir` now: nothing (absent or an empty directory, which is removed), a verified package, or a problem. */
async function readExistingPackage(dir: string): Promise<ExistingPackage | undefined> {
  const [manifestBytes, model] = await Promise.all([readOptional(join(dir, 'manifest.json')), readOptional(join(dir, 'model.onnx'))]);
  if (manifestBytes === undefined && model === undefined) {
    const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
    if (entries === undefined) return undefined;
    if (entries.length === 0) {
      await rmdir(dir);
      return undefined;
    }
    return { problem: `holds ${entries.join(', ')} but no package` };
  }
  if (manifestBytes === undefined || model === undefined) {
    return { problem: `holds an incomplete package (${manifestBytes === undefined ? 'no manifest.json' : 'no model.onnx'})` };
  }
  try {
    return { manifest: verifyPackage(dir, parseManifestText(dir, manifestBytes.toString('utf8')), new Uint8Array(model)) };
  } catch (error) {
    return { problem: `holds a package that does not verify: ${(error as Error).message}` };
  }
}

function assertSamePackage(dir: string, existing: ExistingPackage, pulled: ModelManifest): void {
  if ('problem' in existing) {
    throw new EdgeSyncError('PACKAGE_CONFLICT', `${dir} ${existing.problem}; not overwritten (move it away to pull again)`);
  }
  // Both manifests come out of the same zod schema, so equal packages serialize equally.
  if (existing.manifest.sha256 !== pulled.sha256 || JSON.stringify(existing.manifest) !== JSON.stringify(pulled)) {
    throw new EdgeSyncError(
      'PACKAGE_CONFLICT',
      `${dir} already holds a different ${pulled.name}@${pulled.version} (sha256 ${existing.manifest.sha256}, the server's is ${pulled.sha256}); versions are immutable, not overwritten`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// audit export

const durationUnits: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

/**
 * `--since`: a duration back from `now` (`90s`, `30m`, `1h`, `7d`, `2w`) or an ISO time
 * (`2026-11-20T06:00:00Z`, `2026-11-20T06:00:00+01:00`, or a date `2026-11-20`, meaning its UTC midnight).
 */
export function parseSince(value: string, now: number = Date.now()): Date {
  const text = value.trim();
  const duration = /^(\d{1,9})\s*([smhdw])$/.exec(text);
  if (duration) {
    const amount = Number(duration[1]);
    if (amount === 0) throw new EdgeSyncError('INVALID_ARGUMENT', `since must be a positive duration, got ${JSON.stringify(value)}`);
    return new Date(now - amount * durationUnits[duration[2]!]!);
  }
  if (isoDateTime.safeParse(text).success) return new Date(Date.parse(text));
  if (isoDate.safeParse(text).success) return new Date(Date.parse(`${text}T00:00:00Z`));
  throw new EdgeSyncError('INVALID_ARGUMENT', `since must be a duration such as 30m, 1h or 7d, or an ISO time such as 2026-11-20T06:00:00Z; got ${JSON.stringify(value)}`);
}

/**
 * Splits `[from, to]` (inclusive, epoch ms) into consecutive, non-overlapping windows of at most 31 days,
 * oldest first, as the audit API takes them: a record on a boundary falls in exactly one window.
 */
export function auditWindows(from: number, to: number, maxMs: number = maxAuditWindowMs): { from: string; to: string }[] {
  if (!(from <= to)) throw new EdgeSyncError('INVALID_ARGUMENT', `since (${new Date(from).toISOString()}) must not be after until (${new Date(to).toISOString()})`);
  const windows: { from: string; to: string }[] = [];
  for (let start = from; start <= to; ) {
    // The API refuses to - from > 31 days; both ends are inclusive, so a window ends 1 ms before the next.
    const end = Math.min(start + maxMs - 1, to);
    windows.push({ from: new Date(start).toISOString(), to: new Date(end).toISOString() });
    start = end + 1;
  }
  return windows;
}

export interface ExportAuditOptions extends Connection {
  /** The first instant exported: a Date, or what {@link parseSince} takes. */
  since: Date | string;
  /** The last instant exported. @default now (fixed when the export starts) */
  until?: Date | string;
  /** A file path (written atomically: a temporary sibling, then a rename) or a stream (e.g. stdout). */
  out: string | Writable;
  /** Whose alerts. @default every model the server lists (GET /api/v1/models), else the server's default model */
  models?: string[];
  /** The clock `since`/`until` durations are taken back from. @default Date.now */
  now?: () => number;
}

export interface ExportAuditResult {
  audit: number;
  alerts: number;
  from: string;
  to: string;
  /** How many ≤31-day audit queries the range took. */
  windows: number;
  /**
   * False when some model had more alert events in the range than GET /api/v1/alerts returns at once (200,
   * newest first, no time filter or cursor): the oldest of them are then missing from the export.
   */
  alertsComplete: boolean;
}

const auditPageSchema = z.object({ items: z.array(z.record(z.string(), z.unknown())), next_cursor: z.string().nullable().optional() });
const alertsSchema = z.object({ alerts: z.array(z.record(z.string(), z.unknown())) });
const modelsSchema = z.object({ models: z.array(z.object({ name: z.string() })) });

function toEpoch(value: Date | string, now: number, label: string): number {
  const ms = value instanceof Date ? value.getTime() : parseSince(value, now).getTime();
  if (!Number.isFinite(ms)) throw new EdgeSyncError('INVALID_ARGUMENT', `${label} is not a valid time`);
  return ms;
}

interface LineSink {
  write(line: string): Promise<void>;
  /** Finishes: a file is closed and renamed into place; a stream is left open (it may be stdout). */
  commit(): Promise<void>;
  /** Gives up: a file's temporary is removed, so a failed export leaves no partial file. */
  abort(): Promise<void>;
}

async function openLineSink(out: string | Writable): Promise<LineSink> {
  const target = typeof out === 'string' ? resolve(out) : undefined;
  // Audit records name people and addresses: the file is the owner's only.
  const tmp = target === undefined ? undefined : join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const stream = tmp === undefined ? (out as Writable) : createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  if (tmp !== undefined) await once(stream, 'open');
  let failure: Error | undefined;
  const onError = (error: Error) => {
    failure ??= error;
  };
  stream.on('error', onError);
  return {
    async write(line) {
      if (failure) throw failure;
      // `once` rejects if the stream fails while we wait.
      if (!stream.write(`${line}\n`)) await once(stream, 'drain');
      if (failure) throw failure;
    },
    async commit() {
      if (tmp !== undefined && target !== undefined) {
        await new Promise<void>((done, fail) => stream.end((error?: Error | null) => (error ? fail(error) : done())));
        if (failure) throw failure;
        await rename(tmp, target);
      }
      stream.off('error', onError);
      if (failure) throw failure;
    },
    async abort() {
      if (tmp === undefined) {
        stream.off('error', onError);
        return;
      }
      // Writes still queued fail once the stream is destroyed: those errors are expected (onError stays).
      const closed = new Promise<void>((done) => stream.once('close', () => done()));
      stream.destroy();
      await closed;
      await rm(tmp, { force: true });
    },
  };
}

/**
 * Exports audit records (every page of `GET /api/v1/audit` over `[since, until]`, in ≤31-day windows) and
 * alert events (`GET /api/v1/alerts` per model, filtered to the same range) as JSON lines (see the top of
 * this file). The token needs `audit:read` and `twin:read` (and `models:read` to list the models): an
 * admin's or an auditor's. A plant's auditor exports its plant's records only.
 */
export async function exportAudit(options: ExportAuditOptions): Promise<ExportAuditResult> {
  const now = (options.now ?? Date.now)();
  const from = toEpoch(options.since, now, 'since');
  const to = options.until === undefined ? now : toEpoch(options.until, now, 'until');
  const windows = auditWindows(from, to);
  const connection: Connection = { url: options.url, token: options.token, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const models = options.models ?? (await listModels(connection));

  const sink = await openLineSink(options.out);
  let audit = 0;
  let alerts = 0;
  let alertsComplete = true;
  try {
    for (const window of windows) {
      let cursor: string | undefined;
      do {
        const query = new URLSearchParams({ from: window.from, to: window.to, limit: String(auditPageSize), ...(cursor ? { cursor } : {}) });
        const page = await call(connection, 'GET', `/api/v1/audit?${query}`, auditPageSchema);
        for (const record of page.items) {
          await sink.write(JSON.stringify({ kind: 'audit', record }));
          audit++;
        }
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
    }
    for (const model of models) {
      const query = new URLSearchParams({ limit: String(alertsLimit), ...(model === undefined ? {} : { model }) });
      const page = await call(connection, 'GET', `/api/v1/alerts?${query}`, alertsSchema);
      let oldest = Infinity;
      for (const event of page.alerts) {
        const time = typeof event.time === 'string' ? Date.parse(event.time) : NaN;
        if (Number.isNaN(time)) throw new EdgeSyncError('INVALID_RESPONSE', `GET /api/v1/alerts: an event without a valid time (${JSON.stringify(event.id)})`);
        oldest = Math.min(oldest, time);
        if (time < from || time > to) continue;
        await sink.write(JSON.stringify({ kind: 'alert', event }));
        alerts++;
      }
      if (page.alerts.length >= alertsLimit && oldest >= from) alertsComplete = false;
    }
    await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
  return { audit, alerts, from: new Date(from).toISOString(), to: new Date(to).toISOString(), windows: windows.length, alertsComplete };
}

/** Every model the server lists; `[undefined]` (the server's default model) when the token may not list them. */
async function listModels(connection: Connection): Promise<(string | undefined)[]> {
  try {
    const { models } = await call(connection, 'GET', '/api/v1/models', modelsSchema);
    return models.length ? models.map((m) => m.name) : [undefined];
  } catch (error) {
    if (error instanceof EdgeSyncError && error.status === 403) return [undefined];
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// audit import

export interface ImportAuditOptions extends Connection {
  /** A file written by {@link exportAudit}. */
  file: string;
  /** Items per request. @default 500 (the most allowed) */
  chunkSize?: number;
  /** The edge box the file came from: the server keeps it in each record's import mark. @default the server's `unnamed` */
  edge?: string;
}

interface Counts {
  stored: number;
  duplicate: number;
}

export interface ImportAuditResult {
  audit: Counts;
  alerts: Counts;
  /** Records read from the file. */
  lines: number;
  requests: number;
}

const importResponseSchema = z.object({
  audit: z.object({ stored: z.number(), duplicate: z.number() }),
  alerts: z.object({ stored: z.number(), duplicate: z.number() }),
});

const exportLineSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('audit'), record: z.record(z.string(), z.unknown()) }).strict(),
  z.object({ kind: z.literal('alert'), event: z.record(z.string(), z.unknown()) }).strict(),
]);

/**
 * Imports an export file into a deployment (`POST /api/v1/audit/import`, which needs `audit:write`: an
 * admin's token) in requests of at most 500 items, and sums what the server stored and what it already
 * had. The server keys records by principal, time and request id and alerts by id, so running the same
 * import twice stores nothing the second time, and an import cut short can simply be run again.
 */
export async function importAudit(options: ImportAuditOptions): Promise<ImportAuditResult> {
  const chunkSize = options.chunkSize ?? maxImportChunk;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > maxImportChunk) {
    throw new EdgeSyncError('INVALID_ARGUMENT', `chunkSize must be an integer from 1 to ${maxImportChunk}`);
  }
  const connection: Connection = { url: options.url, token: options.token, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const result: ImportAuditResult = { audit: { stored: 0, duplicate: 0 }, alerts: { stored: 0, duplicate: 0 }, lines: 0, requests: 0 };
  let chunk = { audit: [] as unknown[], alerts: [] as unknown[], firstLine: 0, lastLine: 0 };

  const flush = async () => {
    if (chunk.audit.length + chunk.alerts.length === 0) return;
    let counts: z.infer<typeof importResponseSchema>;
    try {
      counts = await call(connection, 'POST', '/api/v1/audit/import', importResponseSchema, { ...(options.edge ? { edge: options.edge } : {}), audit: chunk.audit, alerts: chunk.alerts });
    } catch (error) {
      if (error instanceof EdgeSyncError) {
        throw new EdgeSyncError(error.code, `${options.file} lines ${chunk.firstLine}-${chunk.lastLine}: ${error.message}`, { ...(error.status ? { status: error.status } : {}), cause: error });
      }
      throw error;
    }
    result.requests++;
    result.audit.stored += counts.audit.stored;
    result.audit.duplicate += counts.audit.duplicate;
    result.alerts.stored += counts.alerts.stored;
    result.alerts.duplicate += counts.alerts.duplicate;
    chunk = { audit: [], alerts: [], firstLine: 0, lastLine: 0 };
  };

  const input = createReadStream(options.file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new EdgeSyncError('INVALID_FILE', `${options.file}:${lineNo}: not JSON`);
      }
      const parsed = exportLineSchema.safeParse(json);
      if (!parsed.success) {
        throw new EdgeSyncError('INVALID_FILE', `${options.file}:${lineNo}: not an exported record (expected {"kind":"audit","record":{...}} or {"kind":"alert","event":{...}})`);
      }
      result.lines++;
      if (chunk.firstLine === 0) chunk.firstLine = lineNo;
      chunk.lastLine = lineNo;
      if (parsed.data.kind === 'audit') chunk.audit.push(parsed.data.record);
      else chunk.alerts.push(parsed.data.event);
      if (chunk.audit.length + chunk.alerts.length >= chunkSize) await flush();
    }
    await flush();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EdgeSyncError('INVALID_ARGUMENT', `no such file: ${options.file}`, { cause: error });
    throw error;
  } finally {
    lines.close();
    input.destroy();
  }
  return result;
}

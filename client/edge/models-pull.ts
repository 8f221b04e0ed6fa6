/** `twin models pull`: a published model package, downloaded, verified and written atomically. */
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { inspectModelGraph } from '../../functions/core/models/graph-check.js';
import { modelNameSchema, parseManifestText, semverSchema, sha256Hex, verifyPackage, type ModelManifest } from '../../functions/core/manifest.js';
import { call, EdgeSyncError, type FetchLike } from './connection.js';

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
  // Inline for small models; larger ones only as a presigned S3 URL (Lambda answers at most 6 MB).
  model_base64: z.string().min(1).optional(),
  model_url: z.url().optional(),
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
  let bytes: Uint8Array;
  if (body.model_base64 !== undefined) bytes = new Uint8Array(Buffer.from(body.model_base64, 'base64'));
  else if (body.model_url !== undefined) {
    // A presigned URL: no Authorization header (S3 would refuse two authentications); the digest below checks it.
    const response = await (options.fetch ?? ((input: URL, init: RequestInit) => fetch(input, init)))(new URL(body.model_url), { method: 'GET' });
    if (!response.ok) throw new EdgeSyncError('PACKAGE_INVALID', `${ref}: downloading model.onnx from its presigned URL answered ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  } else throw new EdgeSyncError('PACKAGE_INVALID', `${ref}: the response carries neither model_base64 nor model_url`);
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

import { inlinePublishMaxBytes } from '../../client/sdk.js';

/**
 * A model package picked in the browser: a package folder (`<input webkitdirectory>`: the files with their
 * relative paths) or a `.tgz` of one, as `twin models package` writes it and `npm start -- --edge --model`
 * takes it. The files are untrusted: sizes are capped before anything is read whole, and only two regular
 * files are taken (manifest.json and model.onnx, side by side, at the shallowest level that has both).
 */

export class PackageFileError extends Error {
  override name = 'PackageFileError';
}

/** The dashboard publishes model.onnx inline (base64 in the JSON body, as the SDK does up to this size). */
export const maxModelBytes = inlinePublishMaxBytes;
export const maxManifestBytes = 1024 * 1024;
/** A .tgz is unpacked in memory: never more than this many bytes out of it. */
export const maxUnpackedBytes = maxModelBytes + maxManifestBytes + 1024 * 1024;

export interface PackagePaths {
  manifest: string;
  model: string;
}

/** Where manifest.json and model.onnx are: the same folder, the shallowest one that has both. */
export function locatePackage(paths: readonly string[]): PackagePaths {
  const folders = new Map<string, Set<string>>();
  for (const path of paths) {
    const clean = path.replace(/^\.\//, '');
    const slash = clean.lastIndexOf('/');
    const folder = slash === -1 ? '' : clean.slice(0, slash);
    const file = clean.slice(slash + 1);
    if (file !== 'manifest.json' && file !== 'model.onnx') continue;
    folders.set(folder, (folders.get(folder) ?? new Set()).add(file));
  }
  const complete = [...folders.entries()].filter(([, files]) => files.size === 2).map(([folder]) => folder);
  if (complete.length === 0) {
    throw new PackageFileError('no manifest.json and model.onnx side by side: pick the package folder that `twin models package --out <dir>` wrote (or a .tgz of it)');
  }
  const depth = (folder: string) => (folder === '' ? 0 : folder.split('/').length);
  const shallowest = Math.min(...complete.map(depth));
  const candidates = complete.filter((f) => depth(f) === shallowest);
  if (candidates.length > 1) throw new PackageFileError(`several packages in this selection (${candidates.join(', ')}): pick one package folder`);
  const folder = candidates[0]!;
  const prefix = folder === '' ? '' : `${folder}/`;
  return { manifest: `${prefix}manifest.json`, model: `${prefix}model.onnx` };
}

const decoder = new TextDecoder();

function field(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const text = field(block, offset, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new PackageFileError('the archive is not a tar file (bad size field)');
  return text === '' ? 0 : parseInt(text, 8);
}

/** `path=...` of a pax extended header (records `<length> <key>=<value>\n`). */
function paxPath(data: Uint8Array): string | undefined {
  for (const record of decoder.decode(data).split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(record);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * The regular files of a tar archive (ustar, GNU long names, pax paths), each a view into `archive`. Links,
 * devices and folders are skipped; nothing is written anywhere, so a path like `../x` only names an entry.
 */
export function readTar(archive: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (field(header, 257, 5) !== 'ustar' && offset === 0) throw new PackageFileError('the archive is not a tar file');
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const start = offset + 512;
    if (start + size > archive.length) throw new PackageFileError('the archive is truncated');
    const data = archive.subarray(start, start + size);
    offset = start + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    const prefix = field(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = undefined;
    if (type === '0' || type === '\0') files.set(name, data);
  }
  return files;
}

/** Gunzips a .tgz in the browser's own DecompressionStream, refusing more than `limit` bytes out. */
export async function gunzip(stream: ReadableStream<Uint8Array>, limit = maxUnpackedBytes): Promise<Uint8Array> {
  const reader = stream.pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel();
        throw new PackageFileError(`the archive unpacks to more than ${Math.round(limit / 1024 / 1024)} MB: publish a large model with \`twin models publish <dir>\` (it uploads through a presigned URL)`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof PackageFileError) throw error;
    throw new PackageFileError('the file is not a gzip archive (.tgz)');
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export interface PickedPackage {
  manifest: Record<string, unknown>;
  model: Uint8Array;
  /** What was picked, for the confirmation ("column-purity 1.0.0 from column-purity/1.0.0"). */
  source: string;
}

/** Refuses files too large for the dashboard, before they are read. */
export function checkSizes(manifestBytes: number, modelBytes: number): void {
  if (manifestBytes > maxManifestBytes) throw new PackageFileError(`manifest.json is larger than ${maxManifestBytes / 1024 / 1024} MB`);
  if (modelBytes > maxModelBytes) {
    throw new PackageFileError(
      `model.onnx is ${(modelBytes / 1024 / 1024).toFixed(1)} MB; the dashboard sends up to ${maxModelBytes / 1024 / 1024} MB inline. Publish it with \`twin models publish <dir>\` (it uploads through a presigned URL)`,
    );
  }
}

/** Checks the two files' sizes and parses the manifest (its content is the API's to judge). */
export function parsePackage(manifestBytes: Uint8Array, model: Uint8Array, source: string): PickedPackage {
  checkSizes(manifestBytes.length, model.length);
  let manifest: unknown;
  try {
    manifest = JSON.parse(decoder.decode(manifestBytes));
  } catch {
    throw new PackageFileError('manifest.json is not valid JSON');
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) throw new PackageFileError('manifest.json must be a JSON object');
  const m = manifest as Record<string, unknown>;
  if (typeof m.name !== 'string' || typeof m.version !== 'string') throw new PackageFileError('manifest.json has no name and version: is this a packaged model?');
  return { manifest: m, model, source };
}

/** A .tgz File. */
export async function packageFromArchive(file: Blob & { name: string }): Promise<PickedPackage> {
  const files = readTar(await gunzip(file.stream()));
  const where = locatePackage([...files.keys()]);
  return parsePackage(files.get(where.manifest)!, files.get(where.model)!, file.name);
}

/** The files of a picked folder (each with its `webkitRelativePath`). */
export async function packageFromFolder(files: readonly (File & { webkitRelativePath: string })[]): Promise<PickedPackage> {
  const byPath = new Map(files.map((f) => [f.webkitRelativePath || f.name, f]));
  const where = locatePackage([...byPath.keys()]);
  const manifestFile = byPath.get(where.manifest)!;
  const modelFile = byPath.get(where.model)!;
  // Sizes first: a huge file is refused before it is read.
  checkSizes(manifestFile.size, modelFile.size);
  const [manifest, model] = await Promise.all([manifestFile.arrayBuffer(), modelFile.arrayBuffer()]);
  return parsePackage(new Uint8Array(manifest), new Uint8Array(model), where.manifest.replace(/\/?manifest\.json$/, '') || '.');
}

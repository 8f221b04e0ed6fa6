import { link, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ModelInvalidError, ModelNotFoundError } from '../core/errors.js';
import { describeZodIssues, modelNameSchema, parseManifestText, semverSchema, verifyPackage } from '../core/manifest.js';
import type { ModelPackage, ModelRouting, ModelStore } from '../core/ports.js';
import { routingSchema } from '../core/twin/routing.js';
import type { ModelOwner } from '../core/models/tenancy.js';
import { parseOwner } from './s3-model-store.js';

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Model packages on local disk, laid out as in S3: `<root>/<name>/<version>/{manifest.json,model.onnx}` and
 * `<root>/<name>/routing.json`. The edge twin's model store: no S3, no network. Every read verifies the
 * manifest and digest exactly as the S3 store does.
 */
export class FileModelStore implements ModelStore {
  constructor(private readonly root: string) {}

  private dir(name: string, version?: string): string {
    // Names and versions are validated before they become paths: nothing can climb out of the root.
    if (!modelNameSchema.safeParse(name).success) throw new ModelNotFoundError(name);
    if (version !== undefined && !semverSchema.safeParse(version).success) throw new ModelNotFoundError(name, version);
    return version === undefined ? join(this.root, name) : join(this.root, name, version);
  }

  async getPackage(name: string, version: string): Promise<ModelPackage> {
    const dir = this.dir(name, version);
    // The reference a client may see: never the server's directory.
    const ref = `${name}@${version}`;
    const [manifestBytes, bytes] = await Promise.all([readIfExists(join(dir, 'manifest.json')), readIfExists(join(dir, 'model.onnx'))]);
    if (!manifestBytes) throw new ModelNotFoundError(name, version);
    if (!bytes) throw new ModelInvalidError(ref, 'model.onnx is missing');
    const manifest = verifyPackage(ref, parseManifestText(ref, manifestBytes.toString('utf8')), new Uint8Array(bytes));
    if (manifest.name !== name || manifest.version !== version) throw new ModelInvalidError(ref, `manifest names ${manifest.name}@${manifest.version}`);
    return { manifest, bytes: new Uint8Array(bytes) };
  }

  async getRouting(name: string): Promise<ModelRouting | undefined> {
    const path = join(this.dir(name), 'routing.json');
    const bytes = await readIfExists(path);
    if (!bytes) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ModelInvalidError(name, 'routing.json is not valid JSON');
    }
    const parsed = routingSchema.safeParse(json);
    if (!parsed.success) throw new ModelInvalidError(name, `routing.json is invalid: ${describeZodIssues(parsed.error)}`);
    return parsed.data as ModelRouting;
  }

  async putRouting(name: string, routing: ModelRouting): Promise<void> {
    await writeAtomic(join(this.dir(name), 'routing.json'), `${JSON.stringify(routing, null, 2)}\n`);
  }

  async getOwner(name: string): Promise<ModelOwner | undefined> {
    const path = join(this.dir(name), 'owner.json');
    const bytes = await readIfExists(path);
    return bytes ? parseOwner(name, path, bytes.toString('utf8')) : undefined;
  }

  /** Create-only: a hard link fails when the name exists, so of two claims one wins and nobody reads half a file. */
  async claimOwner(name: string, owner: ModelOwner): Promise<ModelOwner> {
    const path = join(this.dir(name), 'owner.json');
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(owner, null, 2)}\n`);
    try {
      await link(tmp, path);
      return owner;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    return (await this.getOwner(name)) ?? owner;
  }

  async putPackage(pkg: ModelPackage): Promise<boolean> {
    const dir = this.dir(pkg.manifest.name, pkg.manifest.version);
    if (await readIfExists(join(dir, 'manifest.json'))) return false;
    // The manifest goes last: its presence marks a complete package.
    await writeAtomic(join(dir, 'model.onnx'), pkg.bytes);
    await writeAtomic(join(dir, 'manifest.json'), `${JSON.stringify(pkg.manifest, null, 2)}\n`);
    return true;
  }

  async listModels(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory() && modelNameSchema.safeParse(e.name).success).map((e) => e.name);
  }

  async listVersions(name: string): Promise<string[]> {
    const entries = await readdir(this.dir(name), { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory() && semverSchema.safeParse(e.name).success).map((e) => e.name);
  }
}

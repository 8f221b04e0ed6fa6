import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NoSuchKey, NotFound, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ModelInvalidError, ModelNotFoundError } from '../core/errors.js';
import { describeZodIssues, oneShot, parseManifestText, verifyPackage } from '../core/manifest.js';
import { routingSchema } from '../core/twin/routing.js';
import type { ModelPackage, ModelRouting, ModelStore } from '../core/ports.js';
import { modelOwnerSchema, type ModelOwner } from '../core/models/tenancy.js';

/** S3's answer for a key that does not exist (404: the read policy includes ListBucket). */
export function isMissing(error: unknown): boolean {
  return (
    error instanceof NoSuchKey ||
    error instanceof NotFound ||
    (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 404
  );
}

/**
 * Model packages in S3: `models/<name>/<version>/{manifest.json,model.onnx}` and `models/<name>/routing.json`.
 * Uploads and downloads by presigned URL are S3PackageTransfer's (./s3-package-transfer.ts), so only the
 * function that publishes models carries the presigner.
 */
export class S3ModelStore implements ModelStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  private async getBytes(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async getPackage(name: string, version: string): Promise<ModelPackage> {
    const prefix = `models/${name}/${version}/`;
    const ref = `${name}@${version}`;
    const [manifestBytes, bytes] = await Promise.all([this.getBytes(`${prefix}manifest.json`), this.getBytes(`${prefix}model.onnx`)]);
    if (!manifestBytes) throw new ModelNotFoundError(name, version);
    if (!bytes) throw new ModelInvalidError(ref, 'model.onnx is missing');
    const manifest = verifyPackage(ref, parseManifestText(ref, new TextDecoder().decode(manifestBytes)), bytes);
    if (manifest.name !== name || manifest.version !== version) {
      throw new ModelInvalidError(ref, `manifest names ${manifest.name}@${manifest.version}`);
    }
    return { manifest, bytes };
  }

  async getRouting(name: string): Promise<ModelRouting | undefined> {
    const key = `models/${name}/routing.json`;
    const bytes = await this.getBytes(key);
    if (!bytes) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new ModelInvalidError(name, `${key} is not valid JSON`);
    }
    const parsed = routingSchema.safeParse(json, oneShot);
    if (!parsed.success) throw new ModelInvalidError(name, `${key} is invalid: ${describeZodIssues(parsed.error)}`);
    return parsed.data as ModelRouting;
  }

  async putRouting(name: string, routing: ModelRouting): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `models/${name}/routing.json`,
        Body: `${JSON.stringify(routing, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
  }

  async getOwner(name: string): Promise<ModelOwner | undefined> {
    const key = `models/${name}/owner.json`;
    const bytes = await this.getBytes(key);
    if (!bytes) return undefined;
    return parseOwner(name, key, new TextDecoder().decode(bytes));
  }

  /**
   * Create-only: `If-None-Match: *` makes S3 refuse a second writer (412); the owner read back afterwards
   * is the one that stands (and covers S3-compatible servers that ignore the condition, short of a race).
   */
  async claimOwner(name: string, owner: ModelOwner): Promise<ModelOwner> {
    const existing = await this.getOwner(name);
    if (existing) return existing;
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: `models/${name}/owner.json`, Body: `${JSON.stringify(owner, null, 2)}\n`, ContentType: 'application/json', IfNoneMatch: '*' }),
      );
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (status !== 412 && status !== 409) throw error;
    }
    return (await this.getOwner(name)) ?? owner;
  }

  async putPackage(pkg: ModelPackage): Promise<boolean> {
    const prefix = `models/${pkg.manifest.name}/${pkg.manifest.version}/`;
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: `${prefix}manifest.json` }));
      return false;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    // The manifest goes last: its presence marks a complete package.
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: `${prefix}model.onnx`, Body: pkg.bytes, ContentType: 'application/octet-stream' }),
    );
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${prefix}manifest.json`,
        Body: `${JSON.stringify(pkg.manifest, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
    return true;
  }

  async listModels(): Promise<string[]> {
    // From the keys, not CommonPrefixes: the embedded S3 server (s3rver) reports a common prefix only when an
    // object sits directly under it, so a model published but never activated (no routing.json) was missing.
    // A listing costs one request per 1000 keys (three per version), the same S3 call either way.
    const names = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: 'models/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const name = o.Key?.split('/')[1];
        if (name && o.Key!.split('/').length > 2) names.add(name);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...names];
  }

  async listVersions(name: string): Promise<string[]> {
    return this.listPrefixes(`models/${name}/`);
  }

  private async listPrefixes(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const p of page.CommonPrefixes ?? []) {
        const name = p.Prefix?.slice(prefix.length, -1);
        if (name) names.push(name);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names;
  }
}

export function parseOwner(name: string, where: string, text: string): ModelOwner {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ModelInvalidError(name, `${where} is not valid JSON`);
  }
  const parsed = modelOwnerSchema.safeParse(json, oneShot);
  if (!parsed.success) throw new ModelInvalidError(name, `${where} is invalid: ${describeZodIssues(parsed.error)}`);
  return parsed.data;
}

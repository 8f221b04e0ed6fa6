import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { PackageTransfer } from '../core/ports.js';
import { isMissing } from './s3-model-store.js';

/**
 * Model packages moved by presigned S3 URLs (Lambda's 6 MB payload limit): uploads for publishing under
 * `uploads/` (expired by a lifecycle rule in AWS), downloads of a published `model.onnx`. The URLs are signed
 * with the function's own credentials, so its role must allow what they do (infra/constructs/access.ts).
 */
export class S3PackageTransfer implements PackageTransfer {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  uploadUrl(key: string, expiresInSeconds: number): Promise<string> {
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: 'application/octet-stream' });
    return getSignedUrl(this.s3, command, { expiresIn: expiresInSeconds });
  }

  async readUpload(key: string, maxBytes: number): Promise<Uint8Array | 'too_large' | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if ((out.ContentLength ?? 0) > maxBytes) {
        // Not read: the connection is dropped with the body.
        (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
        return 'too_large';
      }
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  modelUrl(name: string, version: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: `models/${name}/${version}/model.onnx` }), { expiresIn: expiresInSeconds });
  }
}

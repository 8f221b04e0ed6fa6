import { FileModelStore } from '../adapters/file-model-store.js';
import { S3ModelStore } from '../adapters/s3-model-store.js';
import type { ModelStore } from '../core/ports.js';
import type { Services } from '../services.js';
import { s3 } from './clients.js';

// Apart from ./twin.ts (the serving wiring, which carries the ONNX readers): the audit function reads model
// owners through it and must not carry what loads models (test/infra/bundle-contents.test.ts).

/** Model packages: the S3 bucket (cloud, the local twin), or a directory (edge). */
export function modelStore(services: Services): ModelStore {
  const { models } = services.config;
  return models.kind === 'dir' ? new FileModelStore(models.path) : new S3ModelStore(services.get(s3), models.bucket);
}

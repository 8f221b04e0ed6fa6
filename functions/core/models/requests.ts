import * as z from 'zod';
import { plantSchema } from '../auth/users-service.js';
import { semverSchema } from '../manifest.js';

// The model lifecycle's request shapes and limits, apart from ./service.ts: functions/contracts.ts, which
// every bundle carries, takes them from here, so a function that loads no model does not carry the model
// code (the ONNX graph check and onnx-proto) behind the service (test/infra/bundle-contents.test.ts).

export { routingRequestSchema } from '../twin/routing.js';

/**
 * POST /api/v1/models/{name}/versions: the manifest, and the ONNX bytes either inline (base64, small models:
 * the whole request must stay under Lambda's 6 MB) or uploaded beforehand through POST .../uploads.
 */
export const publishRequestSchema = z
  .strictObject({
    manifest: z.record(z.string(), z.unknown()),
    model_base64: z.string().min(1).max(10 * 1024 * 1024).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64').optional(),
    upload_id: z.uuid().optional(),
    /**
     * The plant that owns a new model, `null` for platform-wide (platform admins only). Default: the
     * publisher's plant. Fixed at the first publish.
     */
    plant: plantSchema.nullable().optional(),
  })
  .refine((b) => (b.model_base64 === undefined) !== (b.upload_id === undefined), { message: 'give exactly one of model_base64 and upload_id', path: ['model_base64'] });

export type PublishRequest = z.infer<typeof publishRequestSchema>;

export const activateRequestSchema = z.strictObject({ version: semverSchema });

/** How long presigned upload and download URLs stay valid. */
export const transferUrlSeconds = 900;
/** The largest model.onnx accepted through an upload (the function holds it in memory to check it). */
export const maxUploadBytes = 64 * 1024 * 1024;
/** Downloads carry model.onnx inline (base64) up to this size; larger ones only as a presigned URL (Lambda: 6 MB). */
export const maxInlineDownloadBytes = 3 * 1024 * 1024;

/** {@link TwinClient}: a method for every route, on top of the transport (client/sdk/transport.ts). */
import { TwinApiError } from './errors.js';
import type {
  AlertsResponse,
  AuditQuery,
  AuditRecord,
  AuditResponse,
  BatchAllResponse,
  BatchResponse,
  CalibrationRequest,
  CalibrationResponse,
  CreateKeyRequest,
  CreateUserRequest,
  ExplainResponse,
  FeatureRow,
  FeedbackObservation,
  FeedbackResponse,
  HealthResponse,
  InferRequest,
  InferResponse,
  KeyView,
  KeyWithSecret,
  MetricsResponse,
  ModelChoice,
  ModelInfo,
  ModelList,
  ModelMetadata,
  ModelStats,
  ModelVersions,
  OptimizeRequest,
  OptimizeResponse,
  PredictResponse,
  PublishRequest,
  PublishResponse,
  QualityResponse,
  RoutingRequest,
  RoutingResponse,
  StatusResponse,
  SweepRequest,
  SweepResponse,
  UpdateUserRequest,
  UserView,
} from './route-types.js';
import { maxBatchRows, maxFeedbackObservations } from './route-types.js';
import { TwinTransport, type CallOptions } from './transport.js';

/** model.onnx up to this size is published inline (base64: 4 MiB in a JSON body); larger goes through a presigned S3 upload. */
export const inlinePublishMaxBytes = 3 * 1024 * 1024;

/** base64 of bytes with `btoa` (Node 16+ and browsers). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Bytes of base64 with `atob`. */
export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class TwinClient extends TwinTransport {
  // -------------------------------------------------------------------------------------------------------
  // The twin

  health(): Promise<HealthResponse> {
    return this.call('GET /health', {}, { anonymous: true });
  }

  /**
   * One prediction with its interval: with `model`, by that model (`/api/v1/models/{name}/predict`; with
   * `version` too, exactly that version); without, by the deployment's (or your plant's) default model.
   * With `explain`, also its per-feature contributions (`explanation`).
   */
  predict(row: FeatureRow, options: CallOptions & ModelChoice & { explain?: boolean } = {}): Promise<PredictResponse> {
    const { explain, model, version, ...call } = options;
    if (version && !model) throw new TypeError('predict: version needs model');
    // `explain` rides beside the features in the body (the route's documented flag).
    const body = (explain ? { ...row, explain: true } : row) as FeatureRow;
    if (model && version) return this.call('POST /api/v1/models/{name}/versions/{version}/predict', { params: { name: model, version }, body }, call);
    if (model) return this.call('POST /api/v1/models/{name}/predict', { params: { name: model }, body }, call);
    return this.call('POST /api/v1/twin/predict', { body }, call);
  }

  /** Per-feature contributions (Shapley values; exact TreeSHAP for tree ensembles) for 1..100 rows of `model`. */
  explain(model: string, rows: FeatureRow[], options: CallOptions & { seed?: number } = {}): Promise<ExplainResponse> {
    const { seed, ...call } = options;
    return this.call('POST /api/v1/models/{name}/explain', { params: { name: model }, body: { inputs: rows, ...(seed === undefined ? {} : { seed }) } }, call);
  }

  /** The prediction and interval over a grid of one or two features (up to 100 × 100), the others fixed. */
  sweep(model: string, request: SweepRequest, options?: CallOptions): Promise<SweepResponse> {
    return this.call('POST /api/v1/models/{name}/sweep', { params: { name: model }, body: request }, options);
  }

  /** The best setpoints for the prediction or an interval bound, under constraints (docs/insight.md). */
  optimize(model: string, request: OptimizeRequest, options?: CallOptions): Promise<OptimizeResponse> {
    return this.call('POST /api/v1/models/{name}/optimize', { params: { name: model }, body: request }, options);
  }

  /**
   * Predictions for any number of rows: sent in chunks of {@link maxBatchRows} (one inference run each),
   * `concurrency` chunks at a time. Invalid rows are reported in `errors` (with their index in `rows`),
   * never dropped silently. `indexOffset` shifts the indexes (for callers streaming a long file).
   */
  async batch(
    rows: readonly unknown[],
    options: CallOptions & { model?: string; chunkSize?: number; concurrency?: number; indexOffset?: number; onProgress?: (done: { rows: number; total: number; failed: number }) => void } = {},
  ): Promise<BatchAllResponse> {
    const send = (inputs: FeatureRow[]): Promise<BatchResponse> =>
      options.model
        ? this.call('POST /api/v1/models/{name}/batch', { params: { name: options.model }, body: { inputs } }, options)
        : this.call('POST /api/v1/twin/batch', { body: { inputs } }, options);
    const size = Math.min(maxBatchRows, Math.max(1, options.chunkSize ?? maxBatchRows));
    const offset = options.indexOffset ?? 0;
    const chunks: (readonly unknown[])[] = [];
    for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
    const answers: BatchResponse[] = new Array(chunks.length);
    let next = 0;
    let done = 0;
    let failed = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const i = next++;
        const answer = await send(chunks[i] as FeatureRow[]);
        answers[i] = answer;
        done += chunks[i]!.length;
        failed += answer.failed;
        options.onProgress?.({ rows: done, total: rows.length, failed });
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, options.concurrency ?? 1), Math.max(1, chunks.length)) }, worker));
    const result: BatchAllResponse = { total: rows.length, successful: 0, failed: 0, results: [], errors: [], chunks: chunks.length, model_versions: [], inference_time_ms: 0 };
    answers.forEach((answer, c) => {
      const shift = offset + c * size;
      result.successful += answer.successful;
      result.failed += answer.failed;
      result.inference_time_ms += answer.inference_time_ms;
      if (!result.model_versions.includes(answer.model_version)) result.model_versions.push(answer.model_version);
      for (const r of answer.results) result.results.push({ ...r, index: r.index + shift });
      for (const e of answer.errors) {
        result.errors.push({
          ...e,
          index: e.index + shift,
          issues: e.issues.map((issue) => ({ ...issue, field: issue.field.replace(/^inputs\.(\d+)/, (_m, i: string) => `inputs.${Number(i) + shift}`) })),
        });
      }
    });
    return result;
  }

  status(): Promise<StatusResponse> {
    return this.call('GET /api/v1/twin/status');
  }

  modelInfo(): Promise<ModelInfo> {
    return this.call('GET /model/info');
  }

  /** Request counts, predictions and uptime (GET /metrics). */
  metrics(): Promise<MetricsResponse> {
    return this.call('GET /metrics');
  }

  /** Open Inference Protocol inference: tensor in, tensors out. */
  infer(model: string, request: InferRequest, options: CallOptions & { version?: string } = {}): Promise<InferResponse> {
    return options.version
      ? this.call('POST /v2/models/{name}/versions/{version}/infer', { params: { name: model, version: options.version }, body: request }, options)
      : this.call('POST /v2/models/{name}/infer', { params: { name: model }, body: request }, options);
  }

  /** Open Inference Protocol model metadata. */
  modelMetadata(model: string, version?: string): Promise<ModelMetadata> {
    return version ? this.call('GET /v2/models/{name}/versions/{version}', { params: { name: model, version } }) : this.call('GET /v2/models/{name}', { params: { name: model } });
  }

  // -------------------------------------------------------------------------------------------------------
  // Identity and audit

  readonly keys = {
    create: (request: CreateKeyRequest): Promise<KeyWithSecret> => this.call('POST /api/v1/keys', { body: request }),
    list: async (): Promise<KeyView[]> => (await this.call('GET /api/v1/keys')).keys,
    revoke: (id: string): Promise<KeyView> => this.call('DELETE /api/v1/keys/{id}', { params: { id } }),
    rotate: (id: string): Promise<KeyWithSecret> => this.call('POST /api/v1/keys/{id}/rotate', { params: { id } }),
  };

  readonly users = {
    create: (request: CreateUserRequest): Promise<UserView> => this.call('POST /api/v1/users', { body: request }),
    list: async (): Promise<UserView[]> => (await this.call('GET /api/v1/users')).users,
    update: (username: string, changes: UpdateUserRequest): Promise<UserView> => this.call('PATCH /api/v1/users/{username}', { params: { username }, body: changes }),
    setPassword: (username: string, password: string, currentPassword?: string) =>
      this.call('POST /api/v1/users/{username}/password', { params: { username }, body: { password, ...(currentPassword ? { current_password: currentPassword } : {}) } }),
  };

  /** One page of the audit log (newest first); pass `next_cursor` back as `cursor` for the next. */
  audit(query: AuditQuery = {}): Promise<AuditResponse> {
    return this.call('GET /api/v1/audit', { query });
  }

  /** Every matching audit record, page after page. */
  async *auditAll(query: AuditQuery = {}): AsyncGenerator<AuditRecord> {
    let cursor: string | undefined;
    do {
      const page = await this.audit({ ...query, ...(cursor ? { cursor } : {}) });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  alerts(query: { model?: string; limit?: number } = {}): Promise<AlertsResponse> {
    return this.call('GET /api/v1/alerts', { query });
  }

  /** Model quality (docs/models.md, "Model quality"): measured values, the quality view, calibration. */
  readonly quality = {
    /** Measured values for earlier predictions (≤ 1,000 per call; {@link feedbackAll} splits larger sets). */
    feedback: (model: string, observations: FeedbackObservation[]): Promise<FeedbackResponse> =>
      this.call('POST /api/v1/models/{name}/feedback', { params: { name: model }, body: { observations } }),
    /** Every observation, in calls of at most 1,000; results re-indexed to the input's positions. */
    feedbackAll: async (model: string, observations: FeedbackObservation[]): Promise<FeedbackResponse> => {
      const total: FeedbackResponse = { model, total: 0, accepted: 0, duplicate: 0, unknown: 0, expired: 0, results: [] };
      for (let start = 0; start < observations.length; start += maxFeedbackObservations) {
        const res = await this.quality.feedback(model, observations.slice(start, start + maxFeedbackObservations));
        for (const k of ['total', 'accepted', 'duplicate', 'unknown', 'expired'] as const) total[k] += res[k];
        total.results.push(...res.results.map((r) => ({ ...r, index: r.index + start })));
      }
      return total;
    },
    view: (model: string): Promise<QualityResponse> => this.call('GET /api/v1/models/{name}/quality', { params: { name: model } }),
    calibrate: (model: string, version: string, request: CalibrationRequest): Promise<CalibrationResponse> =>
      this.call('PUT /api/v1/models/{name}/versions/{version}/calibration', { params: { name: model, version }, body: request }),
  };

  // -------------------------------------------------------------------------------------------------------
  // Models

  readonly models = {
    list: (): Promise<ModelList> => this.call('GET /api/v1/models'),
    versions: (name: string): Promise<ModelVersions> => this.call('GET /api/v1/models/{name}/versions', { params: { name } }),
    /**
     * Publishes a package: its manifest and model.onnx (bytes, or a ready request). Up to
     * {@link inlinePublishMaxBytes} the bytes go inline (base64); larger ones are PUT to a presigned S3 URL
     * first (Lambda takes at most 6 MB per request) and the publish names the upload.
     */
    publish: async (name: string, pkg: { manifest: Record<string, unknown>; model: Uint8Array } | PublishRequest): Promise<PublishResponse> => {
      if (!('model' in pkg)) return this.call('POST /api/v1/models/{name}/versions', { params: { name }, body: pkg });
      if (pkg.model.length <= inlinePublishMaxBytes) {
        return this.call('POST /api/v1/models/{name}/versions', { params: { name }, body: { manifest: pkg.manifest, model_base64: bytesToBase64(pkg.model) } });
      }
      const upload = await this.call('POST /api/v1/models/{name}/uploads', { params: { name } });
      // A presigned URL carries its own authorization: no bearer token goes to S3.
      const put = await this.fetcher(upload.url, { method: upload.method, headers: upload.headers, body: pkg.model as Uint8Array<ArrayBuffer> });
      if (!put.ok) throw new TwinApiError('UPLOAD_FAILED', `uploading model.onnx to its presigned URL answered ${put.status}`, put.status, undefined, { method: 'PUT' });
      return this.call('POST /api/v1/models/{name}/versions', { params: { name }, body: { manifest: pkg.manifest, upload_id: upload.upload_id } });
    },
    activate: (name: string, version: string): Promise<RoutingResponse> => this.call('POST /api/v1/models/{name}/activate', { params: { name }, body: { version } }),
    rollback: (name: string): Promise<RoutingResponse> => this.call('POST /api/v1/models/{name}/rollback', { params: { name } }),
    routing: (name: string, routing: RoutingRequest): Promise<RoutingResponse> => this.call('PUT /api/v1/models/{name}/routing', { params: { name }, body: routing }),
    stats: (name: string): Promise<ModelStats> => this.call('GET /api/v1/models/{name}/stats', { params: { name } }),
    /** A published package as the API answers: model.onnx inline when small, else only `model_url` (presigned). */
    download: (name: string, version: string) => this.call('GET /api/v1/models/{name}/versions/{version}/package', { params: { name, version } }),
    /** A published package with model.onnx as bytes, from the answer or its presigned URL, checked against sha256. */
    downloadModel: async (name: string, version: string): Promise<{ manifest: Record<string, unknown>; sha256: string; model: Uint8Array }> => {
      const pkg = await this.call('GET /api/v1/models/{name}/versions/{version}/package', { params: { name, version } });
      let model: Uint8Array;
      if (pkg.model_base64 !== undefined) model = base64ToBytes(pkg.model_base64);
      else if (pkg.model_url !== undefined) {
        const response = await this.fetcher(pkg.model_url, { method: 'GET' });
        if (!response.ok) throw new TwinApiError('DOWNLOAD_FAILED', `downloading model.onnx from its presigned URL answered ${response.status}`, response.status, undefined, { method: 'GET' });
        model = new Uint8Array(await response.arrayBuffer());
      } else throw new TwinApiError('DOWNLOAD_FAILED', 'the package answer carries neither model_base64 nor model_url', 0, undefined);
      const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', model as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('');
      if (digest !== pkg.sha256) throw new TwinApiError('DOWNLOAD_FAILED', `model.onnx has SHA-256 ${digest}, the package says ${pkg.sha256}`, 0, undefined);
      return { manifest: pkg.manifest as Record<string, unknown>, sha256: pkg.sha256, model };
    },
  };

  /** The OpenAPI 3.1 document of the API. */
  openapi(): Promise<Record<string, unknown>> {
    return this.call('GET /openapi.json', {}, { anonymous: true }) as Promise<Record<string, unknown>>;
  }
}

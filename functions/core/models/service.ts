import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { isPlatformAdmin } from '../auth/access.js';
import type { Principal } from '../auth/tokens.js';
import { ConflictError, ForbiddenError, InvalidRequestError, isAppError, ModelNotFoundError, type FieldIssue } from '../errors.js';
import { compareSemver, describeZodIssues, modelManifestSchema, modelNameSchema, semverSchema, sha256Hex, type ModelManifest } from '../manifest.js';
import { latencyBucketsMs, type ModelRouting, type ModelStore, type PackageTransfer, type StatsStore, type VariantCounters } from '../ports.js';
import { alertVisibleTo, type AlertService } from '../alerts/service.js';
import { TwinModel } from '../twin/model.js';
import type { ModelRegistry } from '../twin/registry.js';
import type { RoutingRequest } from '../twin/routing.js';
import { maxInlineDownloadBytes, maxUploadBytes, transferUrlSeconds, type PublishRequest } from './requests.js';
import { modelVisibleTo, requireModelAccess, type ModelOwner } from './tenancy.js';

// The request schemas and limits are in ./requests.ts (functions/contracts.ts takes them from there).

function uploadKey(name: string, uploadId: string): string {
  return `uploads/${name}/${uploadId}/model.onnx`;
}

export const modelNameParam = modelNameSchema;

export interface VariantStats {
  version: string;
  role: 'active' | 'variant' | 'shadow' | 'inactive';
  weight: number;
  requests: number;
  errors: number;
  rows: number;
  mean_latency_ms: number | null;
  p95_latency_ms: number | null;
  latency_histogram: { le_ms: number | null; count: number }[];
  mean_prediction: number | null;
  cache_hit_rate: number;
  alerts: number;
}

function p95(histogram: number[]): number | null {
  const total = histogram.reduce((s, c) => s + c, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    // The bucket's upper bound: an upper estimate of the 95th percentile.
    if (seen >= 0.95 * total) return latencyBucketsMs[i] ?? latencyBucketsMs[latencyBucketsMs.length - 1]! * 2;
  }
  return null;
}

/**
 * The model lifecycle: list, publish (immutable), activate, roll back, A/B routing, per-variant stats. Every
 * method takes the principal and checks the model's owner (./tenancy.ts) before it reads or writes anything
 * else: not visible → 404 as an unknown model, visible but not the principal's to change → 403. The owner is
 * read afresh here (no cache): these are administration.
 */
export class ModelService {
  constructor(
    private readonly store: ModelStore,
    private readonly registry: ModelRegistry,
    private readonly stats: StatsStore,
    private readonly alerts: AlertService,
    private readonly options: { now?: () => number; transfer?: PackageTransfer; newId?: () => string } = {},
  ) {}

  private now(): string {
    return new Date(this.options.now?.() ?? Date.now()).toISOString();
  }

  private name(raw: string): string {
    const parsed = modelNameSchema.safeParse(raw);
    if (!parsed.success) throw new InvalidRequestError(`model name ${parsed.error.issues[0]?.message ?? 'is invalid'}`, [{ field: 'name', rule: 'format', message: 'lower-case letters, digits and dashes' }]);
    return parsed.data;
  }

  private async access(principal: Principal, name: string, need: 'read' | 'manage', version?: string, mustExist = false): Promise<ModelOwner | undefined> {
    const owner = await this.store.getOwner(name);
    // No owner and no versions: no such model. Said before the 403 a platform-wide model would get, so a
    // hidden model and an unknown name answer alike.
    if (!owner && (need === 'manage' || mustExist) && (await this.store.listVersions(name)).length === 0) throw new ModelNotFoundError(name, version);
    requireModelAccess(principal, name, owner, need, version);
    return owner;
  }

  async list(principal: Principal) {
    const names = await this.store.listModels();
    const owners = await Promise.all(names.map(async (name) => ({ name, owner: await this.store.getOwner(name) })));
    const visible = owners.filter((o) => modelVisibleTo(o.owner, principal));
    const models = await Promise.all(
      visible.map(async ({ name, owner }) => {
        const [routing, versions] = await Promise.all([this.store.getRouting(name), this.store.listVersions(name)]);
        return { name, plant: owner?.plant ?? null, active: routing?.active ?? null, variants: routing?.variants ?? null, shadow: routing?.shadow ?? null, versions: versions.sort(compareSemver) };
      }),
    );
    return { models };
  }

  async versions(principal: Principal, rawName: string) {
    const name = this.name(rawName);
    const owner = await this.access(principal, name, 'read');
    const [routing, versions] = await Promise.all([this.store.getRouting(name), this.store.listVersions(name)]);
    if (!routing && versions.length === 0) throw new ModelNotFoundError(name);
    const details = await Promise.all(
      versions.sort(compareSemver).map(async (version) => {
        try {
          const { manifest } = await this.store.getPackage(name, version);
          return { version, created: manifest.created, model_type: manifest.modelType, sha256: manifest.sha256, features: manifest.features.map((f) => f.name), status: 'ok' as const };
        } catch (error) {
          return { version, status: 'invalid' as const, reason: safeReason(error) };
        }
      }),
    );
    return { name, plant: owner?.plant ?? null, active: routing?.active ?? null, routing: routing ?? null, versions: details };
  }

  /**
   * Publishes a package. It is validated (manifest schema, digest, the graph loads and answers the manifest's
   * shape on one row inside the valid range) before anything is written. A version is immutable: the same
   * bytes again are accepted as already published; different bytes are refused (409).
   *
   * Ownership first: a name belongs to one owner. A new name is claimed for the publisher's plant (or, by a
   * platform admin, the `plant` given, `null` = platform-wide); an existing name takes versions only from
   * those who manage it. A name that has versions but no owner.json predates owners: platform-wide.
   */
  async publish(principal: Principal, rawName: string, body: PublishRequest) {
    const name = this.name(rawName);
    // The owner is checked before the package is looked at (another plant's model: 404 at once), and a new
    // name is claimed only once the package has proved valid (a refused upload claims nothing).
    const claim = await this.ownership(principal, name, body.plant);
    const bytes = body.upload_id ? await this.uploaded(name, body.upload_id) : new Uint8Array(Buffer.from(body.model_base64 ?? '', 'base64'));
    const manifestInput = { ...body.manifest };
    if (manifestInput.sha256 === undefined) manifestInput.sha256 = sha256Hex(bytes);
    const parsed = modelManifestSchema.safeParse(manifestInput);
    if (!parsed.success) {
      const issues: FieldIssue[] = parsed.error.issues.map((i) => ({ field: ['manifest', ...i.path.map(String)].join('.'), rule: i.code, message: i.message }));
      throw new InvalidRequestError(`manifest is invalid: ${describeZodIssues(parsed.error)}${unpackagedHint(manifestInput)}`, issues);
    }
    const manifest = parsed.data;
    if (manifest.name !== name) throw new InvalidRequestError(`manifest.name ${manifest.name} does not match the path's ${name}`, [{ field: 'manifest.name', rule: 'matches_path', message: `must be ${name}` }]);
    if (sha256Hex(bytes) !== manifest.sha256) {
      throw new InvalidRequestError('model.onnx digest mismatch: manifest.sha256 is not the SHA-256 of the uploaded model', [
        { field: 'manifest.sha256', rule: 'digest', message: `the uploaded model's SHA-256 is ${sha256Hex(bytes)}` },
      ]);
    }
    await smokeTest(manifest, bytes);
    await claim();
    if (!(await this.store.putPackage({ manifest, bytes }))) {
      const existing = await this.store.getPackage(name, manifest.version).catch(() => undefined);
      if (existing && existing.manifest.sha256 === manifest.sha256 && canonical(existing.manifest) === canonical(manifest)) {
        return { name, version: manifest.version, sha256: manifest.sha256, published: false, already_published: true };
      }
      throw new ConflictError(`${name}@${manifest.version} is already published with different contents; versions are immutable, publish a new version`);
    }
    return { name, version: manifest.version, sha256: manifest.sha256, published: true, already_published: false };
  }

  /**
   * Checks the principal may publish into `name`; resolves the step that records the owner of a new name
   * (create-only: of two concurrent first publishers, the loser is checked against the winner's claim).
   */
  private async ownership(principal: Principal, name: string, requested: string | null | undefined): Promise<() => Promise<void>> {
    if (requested !== undefined && !isPlatformAdmin(principal) && requested !== (principal.plant ?? null)) {
      throw new ForbiddenError("Only a platform admin may publish a model for another plant or platform-wide (omit plant: the model is your plant's)", [
        { field: 'plant', rule: 'platform_admin', message: `omit it, or ${principal.plant ?? 'null'}` },
      ]);
    }
    const fixed = (owner: ModelOwner | undefined) => {
      requireModelAccess(principal, name, owner, 'manage');
      if (requested !== undefined && (owner?.plant ?? null) !== requested) {
        throw new ConflictError(`${name} is ${owner?.plant ? `plant ${owner.plant}'s` : 'platform-wide'}: a model's owner is fixed at its first publish`);
      }
    };
    const existing = await this.store.getOwner(name);
    // Versions but no owner.json: published before owners, platform-wide.
    if (existing || (await this.store.listVersions(name)).length > 0) {
      fixed(existing);
      return async () => undefined;
    }
    if (principal.role !== 'admin') throw new ForbiddenError('Only an admin may publish a new model');
    const plant = requested === undefined ? principal.plant : (requested ?? undefined);
    const wanted: ModelOwner = { schemaVersion: 1, ...(plant ? { plant } : {}), assigned: this.now(), by: principal.id };
    return async () => fixed(await this.store.claimOwner(name, wanted));
  }

  private transfer(): PackageTransfer {
    if (!this.options.transfer) {
      throw new InvalidRequestError('this deployment stores models on disk: publish with model_base64', [{ field: 'upload_id', rule: 'supported', message: 'uploads need the S3 model store' }]);
    }
    return this.options.transfer;
  }

  /**
   * A presigned PUT for a model.onnx too large to send inline. The publish call then names `upload_id`, and
   * the uploaded bytes go through exactly the checks inline bytes go through ({@link publish}).
   */
  async createUpload(principal: Principal, rawName: string) {
    const name = this.name(rawName);
    // Only who may publish into the name gets somewhere to upload to (another plant's model: 404).
    await this.ownership(principal, name, undefined);
    const uploadId = this.options.newId?.() ?? randomUUID();
    const url = await this.transfer().uploadUrl(uploadKey(name, uploadId), transferUrlSeconds);
    return { upload_id: uploadId, method: 'PUT' as const, url, headers: { 'content-type': 'application/octet-stream' }, expires_in: transferUrlSeconds, max_bytes: maxUploadBytes };
  }

  /** The bytes uploaded for `uploadId`, refused when missing or larger than {@link maxUploadBytes}. */
  private async uploaded(name: string, uploadId: string): Promise<Uint8Array> {
    const bytes = await this.transfer().readUpload(uploadKey(name, uploadId), maxUploadBytes);
    if (bytes === undefined) {
      throw new InvalidRequestError(`nothing was uploaded for upload_id ${uploadId}`, [{ field: 'upload_id', rule: 'uploaded', message: 'PUT model.onnx to the upload URL first (it expires)' }]);
    }
    if (bytes === 'too_large') {
      throw new InvalidRequestError(`the upload is larger than ${maxUploadBytes} bytes`, [{ field: 'upload_id', rule: 'max_bytes', message: `model.onnx may be at most ${maxUploadBytes} bytes` }]);
    }
    return bytes;
  }

  private async loadable(principal: Principal, name: string, version: string): Promise<void> {
    try {
      await this.registry.version(name, version, principal);
    } catch (error) {
      throw new InvalidRequestError(`${name}@${version} cannot be served: ${safeReason(error)}`, [{ field: 'version', rule: 'loadable', message: safeReason(error) }]);
    }
  }

  private async writeRouting(name: string, routing: ModelRouting) {
    await this.store.putRouting(name, routing);
    this.registry.invalidateRouting(name);
    return { name, routing };
  }

  /** A published package as stored, for `twin models pull` (moving a model to an edge box). */
  async download(principal: Principal, rawName: string, version: string) {
    const name = this.name(rawName);
    if (!semverSchema.safeParse(version).success) throw new ModelNotFoundError(name, version);
    await this.access(principal, name, 'read', version);
    const { manifest, bytes } = await this.store.getPackage(name, version);
    const url = this.options.transfer ? await this.options.transfer.modelUrl(name, version, transferUrlSeconds) : undefined;
    // Inline only what fits Lambda's 6 MB response; larger models come from S3 directly (verify sha256).
    const inline = !url || bytes.length <= maxInlineDownloadBytes;
    return {
      name,
      version,
      sha256: manifest.sha256,
      manifest,
      ...(inline ? { model_base64: Buffer.from(bytes).toString('base64') } : {}),
      ...(url ? { model_url: url, model_url_expires_in: transferUrlSeconds } : {}),
    };
  }

  /** Makes `version` take all traffic; the previous active version goes on the rollback history. */
  async activate(principal: Principal, rawName: string, version: string) {
    const name = this.name(rawName);
    await this.access(principal, name, 'manage');
    await this.loadable(principal, name, version);
    const current = await this.store.getRouting(name);
    const history = [...(current?.history ?? [])];
    if (current && current.active !== version) history.push(current.active);
    return this.writeRouting(name, {
      schemaVersion: 1,
      active: version,
      updated: this.now(),
      history: history.slice(-20),
      ...(current?.shadow && current.shadow !== version ? { shadow: current.shadow } : {}),
    });
  }

  /** Back to the previously active version (the A/B split, if any, ends). */
  async rollback(principal: Principal, rawName: string) {
    const name = this.name(rawName);
    await this.access(principal, name, 'manage');
    const current = await this.store.getRouting(name);
    if (!current) throw new ModelNotFoundError(name);
    const history = [...(current.history ?? [])];
    const previous = history.pop();
    if (!previous) throw new ConflictError(`${name} has no previous active version to roll back to`);
    await this.loadable(principal, name, previous);
    return this.writeRouting(name, { schemaVersion: 1, active: previous, updated: this.now(), history, ...(current.shadow ? { shadow: current.shadow } : {}) });
  }

  /** Sets the A/B split (and shadow). The heaviest variant becomes `active` (the first on a tie). */
  async setRouting(principal: Principal, rawName: string, request: RoutingRequest) {
    const name = this.name(rawName);
    await this.access(principal, name, 'manage');
    const current = await this.store.getRouting(name);
    if (!current) throw new ModelNotFoundError(name);
    for (const v of request.variants) await this.loadable(principal, name, v.version);
    if (request.shadow) await this.loadable(principal, name, request.shadow);
    const primary = request.variants.reduce((best, v) => (v.weight > best.weight ? v : best));
    const history = [...(current.history ?? [])];
    if (current.active !== primary.version) history.push(current.active);
    return this.writeRouting(name, {
      schemaVersion: 1,
      active: primary.version,
      updated: this.now(),
      variants: request.variants,
      mode: request.mode,
      stickyBy: request.sticky_by,
      ...(request.shadow ? { shadow: request.shadow } : {}),
      history: history.slice(-20),
    });
  }

  /**
   * Per-variant figures from the shared counters (every container adds to them): the deployment's for a
   * platform principal, the principal's plant's own for a plant's principal.
   */
  async variantStats(principal: Principal, rawName: string) {
    const name = this.name(rawName);
    await this.access(principal, name, 'read');
    const [routing, counters] = await Promise.all([this.store.getRouting(name), this.stats.read(name, principal.plant)]);
    if (!routing) throw new ModelNotFoundError(name);
    const weights = new Map((routing.variants ?? [{ version: routing.active, weight: 1 }]).map((v) => [v.version, v.weight]));
    const view = (c: VariantCounters): VariantStats => ({
      version: c.version,
      role: c.shadow ? 'shadow' : c.version === routing.active ? 'active' : weights.has(c.version) ? 'variant' : 'inactive',
      weight: c.shadow ? 0 : (weights.get(c.version) ?? 0),
      requests: c.requests,
      errors: c.errors,
      rows: c.rows,
      mean_latency_ms: c.requests ? c.latencySumMs / c.requests : null,
      p95_latency_ms: p95(c.latencyHistogram),
      latency_histogram: c.latencyHistogram.map((count, i) => ({ le_ms: latencyBucketsMs[i] ?? null, count })),
      mean_prediction: c.rows ? c.predictionSum / c.rows : null,
      cache_hit_rate: c.requests ? c.cacheHits / c.requests : 0,
      alerts: c.alerts,
    });
    return { name, routing, variants: counters.map(view) };
  }

  /**
   * Alerts raised by the principal's plant (a platform principal: all), of one model it sees: a model it may
   * not see answers 404 exactly as a name that was never published. With them, what the plant's alert cap held
   * back (the plant's, whatever the model; a platform principal's: every plant's, each named).
   */
  async recentAlerts(principal: Principal, model: string | undefined, limit: number) {
    if (model !== undefined) await this.access(principal, this.name(model), 'read', undefined, true);
    const [events, heldBack] = await Promise.all([this.alerts.recent(model, limit, principal.plant), this.alerts.heldBack(principal.plant)]);
    return { alerts: events.filter((e) => alertVisibleTo(principal, e)), held_back: heldBack };
  }
}

/** Proves the package runs and answers the declared shape, before it is accepted. */
/**
 * A manifest without the fields only the packager derives from the graph (tensor names, output kind) is most
 * likely a packager spec sent with a raw export (e.g. skl2onnx's): say how to package it.
 */
function unpackagedHint(manifest: Record<string, unknown>): string {
  if (manifest.onnx !== undefined && manifest.output !== undefined) return '';
  return '. This looks like an unpackaged model (a raw ONNX export and its spec): package it first with `twin models package --onnx <model.onnx> --spec <spec.json> --out <dir>/<name>/<version>` (docs/model-package.md), then publish that folder';
}

async function smokeTest(manifest: ModelManifest, bytes: Uint8Array): Promise<void> {
  const model = await TwinModel.load({ manifest, bytes });
  try {
    const row = new Float32Array(manifest.features.map((f) => (f.min + f.max) / 2));
    const [out] = await model.infer(row, 1);
    if (!out || !Number.isFinite(out.prediction)) throw new InvalidRequestError('model answers a non-finite prediction for the middle of the valid range', [{ field: 'model_base64', rule: 'finite_output', message: 'the model must answer finite numbers' }]);
  } finally {
    await model.release();
  }
}

/** What a client may read of a failed load: an exposed AppError's message (it names the rule), else nothing internal. */
function safeReason(error: unknown): string {
  return isAppError(error) && error.expose ? error.message : 'the package cannot be read';
}

/** Both sides come out of the same zod schema, so their key order agrees. */
function canonical(manifest: ModelManifest): string {
  return JSON.stringify(manifest);
}

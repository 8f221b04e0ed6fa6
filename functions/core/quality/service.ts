import { requireModelAccess } from '../models/tenancy.js';
import { isFresh } from '../fresh.js';
import { createHash } from 'node:crypto';
import { canSeePlant } from '../auth/access.js';
import type { Principal } from '../auth/tokens.js';
import { InvalidRequestError, ModelNotFoundError } from '../errors.js';
import { modelNameSchema, semverSchema, type ModelManifest } from '../manifest.js';
import { calibrateVersion, type CalibrationRequest } from './calibrate.js';
import type { Telemetry } from '../ports.js';
import type { ModelRegistry } from '../twin/registry.js';
import type { TwinModel } from '../twin/model.js';
import type { QualityAlerts } from './alerts.js';
import { initialRecalibration, recalibrate, type RecalibrationOptions } from './recalibration.js';
import { emptyAggregate, type PredictionKey, type PredictionLog, type QualityBucket, type QualityStore, type StoredCalibration, type StoredPrediction } from './ports.js';
import { QualityBands, recentDrift } from './evaluation.js';
import { maxStoredMagnitude, minStoredMagnitude, storable, type FeedbackRequest, type FeedbackResult, type FeedbackStatus } from './feedback-schema.js';
import { abVerdict, errorStats, hourOf, statedLevel, windowAggregates, windowNames, windowStart, type WindowName } from './view.js';

/** Reads for the service's own bookkeeping (bands, stated levels) see every model. */
const internalSubject = { id: 'twinserve:quality' };

function subjectOf(principal: Principal) {
  return { id: principal.id, ...(principal.plant ? { plant: principal.plant } : {}) };
}

export interface QualityOptions {
  now?: () => number;
  /** How long predictions are kept for feedback. @default 30 */
  retentionDays?: number;
  /** Online recalibration from feedback. @default true */
  recalibration?: boolean;
  recalibrationOptions?: RecalibrationOptions;
  /** How long a container trusts its copy of a version's width factor. @default 60_000 */
  factorCacheMs?: number;
  /** Matching by inputs: how far (seconds) the given time may be from the prediction's. @default 300 */
  lookupToleranceSeconds?: number;
  /** Alert bands: coverage below level − this over the day. @default 0.1 */
  coverageTolerance?: number;
  /** Alert bands: day MAE above this multiple of the all-time MAE. @default 1.5 */
  errorFactor?: number;
  /** Rows a window needs before it may alert. @default 30 */
  minAlertRows?: number;
  /** PSI above which a feature drifts significantly (and alerts). @default 0.25 */
  driftThreshold?: number;
  /** Predictions read for drift (the newest in the last day). @default 5000 */
  driftRows?: number;
  /**
   * The scheduled evaluation reads who was served from the previous run's end less this overlap (seconds): a
   * request whose index entry shows up later than this after its time stamp could be missed. @default 300
   */
  servedOverlapSeconds?: number;
  telemetry?: Telemetry;
  onError?: (error: unknown) => void;
  /**
   * Charges a feedback call its lookups by inputs and time (the request took one unit at the gateway): each
   * reads up to 1,000 stored rows, so 25 in one call cost the twin ~13 predictions' CPU for one unit.
   */
  rateLimit?: { charge(principal: Principal, units: number): Promise<void> };
}

/** A served row handed to {@link QualityService.capture}. */
export interface ServedRow {
  row: number;
  inputs: Record<string, number>;
  prediction: number;
  interval: [number, number] | null;
}

/** A model's plant when it belongs to one (tenancy); platform-wide models have none. */
function modelPlant(manifest: ModelManifest): string | undefined {
  const plant = (manifest as { plant?: unknown }).plant;
  return typeof plant === 'string' ? plant : undefined;
}

/**
 * Model quality: predictions kept for a while, measured values joined to them (feedback), error and coverage
 * per version and plant over windows, the A/B verdict, online recalibration of the interval width, input
 * drift, and quality alerts. Every read and write is scoped by the principal's plant.
 */
export class QualityService {
  private readonly factors = new Map<string, { factor: number; calibration?: StoredCalibration; expires: number }>();

  /** Quality alerts' judgements (after feedback and on the schedule); none without an alert sink. */
  private readonly bands: QualityBands | undefined;

  constructor(
    private readonly log: PredictionLog,
    private readonly store: QualityStore,
    private readonly registry: ModelRegistry,
    alerts: QualityAlerts | undefined,
    private readonly options: QualityOptions = {},
  ) {
    this.bands = alerts
      ? new QualityBands({ log, store, alerts, options, now: () => this.now(), served: (name, version) => this.served(name, version), fail: (error) => this.fail(error) })
      : undefined;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private fail(error: unknown): void {
    this.options.telemetry?.count('QualityWriteFailures');
    this.options.onError?.(error);
  }

  /**
   * Keeps served rows for feedback. Bookkeeping: a failing store never fails the prediction. Only numbers a
   * store keeps exactly ({@link storable}): a row whose prediction or an input is beyond ±{@link maxStoredMagnitude},
   * not finite or nonzero below 1e-130 in magnitude is not kept, and interval bounds are clamped to the range
   * (measured values are within ±1e9, so coverage is unchanged). Such numbers (8e18, then 1e-300) once failed
   * the group write they shared with other plants' requests.
   */
  async capture(principal: Principal, model: TwinModel, requestId: string, served: readonly ServedRow[]): Promise<void> {
    // Bounds below 1e-130 in magnitude are 0 to a store (it refuses them); others are clamped to its range.
    const clamp = (v: number) => (Math.abs(v) < minStoredMagnitude ? 0 : Math.min(maxStoredMagnitude, Math.max(-maxStoredMagnitude, v)));
    const rows = served
      .filter((r) => [r.prediction, ...Object.values(r.inputs)].every(storable))
      .map((r) => ({ ...r, interval: r.interval && !r.interval.some(Number.isNaN) ? ([clamp(r.interval[0]), clamp(r.interval[1])] as [number, number]) : null }));
    if (!requestId || rows.length === 0) return;
    const now = this.now();
    const ttl = Math.floor(now / 1000) + (this.options.retentionDays ?? 30) * 86_400;
    const level = statedLevel(model.interval);
    try {
      await this.log.record(
        rows.map((r) => ({
          requestId,
          row: r.row,
          model: model.manifest.name,
          version: model.manifest.version,
          ...(principal.plant ? { plant: principal.plant } : {}),
          principal: principal.id,
          time: new Date(now).toISOString(),
          inputs: r.inputs,
          prediction: r.prediction,
          interval: r.interval,
          level,
          ttl,
        })),
      );
    } catch (error) {
      this.fail(error);
    }
  }

  /**
   * What a version serves beyond its package, cached per container for `factorCacheMs`: the width factor of
   * online recalibration (1 when off or unknown) and a calibration added after publishing. A failing store
   * keeps the last known state: serving never fails for it.
   */
  async serving(name: string, version: string): Promise<{ factor: number; calibration?: StoredCalibration }> {
    const key = `${name}@${version}`;
    const cached = this.factors.get(key);
    const now = this.now();
    const ttlMs = this.options.factorCacheMs ?? 60_000;
    if (cached && isFresh(now, cached.expires, ttlMs)) return cached;
    let state: { factor: number; calibration?: StoredCalibration };
    try {
      const [recal, calibration] = await Promise.all([this.options.recalibration === false ? undefined : this.store.getRecalibration(name, version), this.store.getCalibration(name, version)]);
      state = { factor: recal?.factor ?? 1, ...(calibration ? { calibration } : {}) };
    } catch (error) {
      this.fail(error);
      state = cached ?? { factor: 1 };
    }
    this.factors.set(key, { ...state, expires: now + ttlMs });
    return state;
  }

  private async visibleModel(principal: Principal, rawName: string): Promise<{ name: string; manifest: ModelManifest; routingVersions: string[] }> {
    const parsed = modelNameSchema.safeParse(rawName);
    if (!parsed.success) throw new InvalidRequestError('model name must be lower-case letters, digits and dashes', [{ field: 'name', rule: 'format', message: 'lower-case letters, digits and dashes' }]);
    const name = parsed.data;
    // A model of another plant is as absent as one that does not exist (no probing): the owner is checked
    // before anything of the model (its routing, its active version) is read.
    await this.registry.ownerFor(name, subjectOf(principal));
    const routing = await this.registry.getRouting(name);
    const model = await this.registry.version(name, routing.active, subjectOf(principal));
    return { name, manifest: model.manifest, routingVersions: [routing.active, ...(routing.variants ?? []).map((v) => v.version).filter((v) => v !== routing.active)] };
  }

  /** Rows of `model` the principal may see that match `inputs` near `time`; the nearest in time wins. */
  private async findByInputs(principal: Principal, model: string, inputs: Record<string, number>, time: string): Promise<StoredPrediction | undefined> {
    const at = Date.parse(time);
    const tolerance = (this.options.lookupToleranceSeconds ?? 300) * 1000;
    const rows = await this.log.byTime(model, new Date(at - tolerance).toISOString(), new Date(at + tolerance).toISOString(), 1000, principal.plant);
    const same = (r: StoredPrediction) =>
      Object.keys(inputs).length === Object.keys(r.inputs).length && Object.entries(inputs).every(([k, v]) => r.inputs[k] !== undefined && Math.abs(r.inputs[k]! - v) <= 1e-9 * Math.max(1, Math.abs(v)));
    return rows
      .filter((r) => r.plant === principal.plant || (!principal.plant && canSeePlant(principal, r.plant)))
      .filter(same)
      .sort((a, b) => Math.abs(Date.parse(a.time) - at) - Math.abs(Date.parse(b.time) - at))[0];
  }

  /**
   * Joins measured values to earlier predictions. Each observation is reported: accepted (late when more
   * than a day after its prediction), duplicate (the row has a value already, or twice in this call),
   * unknown (no such prediction of this model that the caller may see) or expired (past retention).
   */
  async feedback(principal: Principal, rawName: string, body: FeedbackRequest) {
    const { name } = await this.visibleModel(principal, rawName);
    const now = this.now();
    const nowIso = new Date(now).toISOString();
    const observations = body.observations;
    const tolerance = (this.options.lookupToleranceSeconds ?? 300) * 1000;
    // A time no prediction can have (the future) is bad input, refused before anything is read or written.
    const future = observations.flatMap((o, index) => (o.time !== undefined && o.request_id === undefined && Date.parse(o.time) > now + tolerance ? [index] : []));
    if (future.length > 0) throw new InvalidRequestError(`observations.${future[0]}.time: must not be later than now`, future.map((index) => ({ field: `observations.${index}.time`, rule: 'max', message: 'must not be later than now (a prediction’s time)' })));
    // Past retention (and the lookup's tolerance) nothing is stored to match: expired, without a query.
    const oldest = now - (this.options.retentionDays ?? 30) * 86_400_000 - tolerance;
    // One unit per lookup by inputs and time, charged before any is run (the gateway's take pays for the first).
    const lookups = observations.filter((o) => !o.request_id && Date.parse(o.time!) >= oldest).length;
    await this.options.rateLimit?.charge(principal, lookups - 1);
    const keys: (PredictionKey | undefined)[] = observations.map((o) => (o.request_id ? { requestId: o.request_id, row: o.index ?? 0 } : undefined));
    const byKey = new Map((await this.log.get(dedupeKeys(keys.filter((k): k is PredictionKey => !!k)))).map((p) => [`${p.requestId}#${p.row}`, p]));
    const seen = new Set<string>();
    const results: FeedbackResult[] = [];
    const pending: { index: number; prediction: StoredPrediction; value: number }[] = [];
    for (const [index, o] of observations.entries()) {
      if (!keys[index] && Date.parse(o.time!) < oldest) {
        results[index] = { index, status: 'expired' };
        continue;
      }
      let prediction = keys[index] ? byKey.get(`${keys[index]!.requestId}#${keys[index]!.row}`) : await this.findByInputs(principal, name, o.inputs!, o.time!);
      // Another model's or another plant's prediction is unknown here: nothing about it is revealed.
      if (prediction && (prediction.model !== name || !(prediction.plant === principal.plant || (!principal.plant && canSeePlant(principal, prediction.plant))))) prediction = undefined;
      const ref = prediction ? { request_id: prediction.requestId, row: prediction.row, version: prediction.version } : o.request_id ? { request_id: o.request_id } : {};
      if (!prediction) results[index] = { index, status: 'unknown', ...ref };
      else if (prediction.ttl * 1000 <= now) results[index] = { index, status: 'expired', ...ref };
      else if (seen.has(`${prediction.requestId}#${prediction.row}`) || prediction.actual !== undefined) results[index] = { index, status: 'duplicate', ...ref };
      else {
        seen.add(`${prediction.requestId}#${prediction.row}`);
        pending.push({ index, prediction, value: o.value });
      }
    }
    // One conditional write per served request for its rows together (a request is one item: a write per row
    // would cost the item's size a hundred times over for a 100-row batch).
    const byRequest = new Map<string, typeof pending>();
    for (const p of pending) byRequest.set(p.prediction.requestId, [...(byRequest.get(p.prediction.requestId) ?? []), p]);
    const accepted: { prediction: StoredPrediction; value: number }[] = [];
    for (const [requestId, group] of byRequest) {
      const statuses = await this.log.observe(requestId, group.map((p) => ({ row: p.prediction.row, actual: p.value })), nowIso);
      group.forEach(({ index, prediction, value }, k) => {
        const ref = { request_id: prediction.requestId, row: prediction.row, version: prediction.version };
        if (statuses[k] !== 'stored') {
          results[index] = { index, status: 'duplicate', ...ref };
          return;
        }
        const lag = Math.max(0, (now - Date.parse(prediction.time)) / 1000);
        results[index] = { index, status: 'accepted', ...ref, lag_seconds: lag, ...(lag > 86_400 ? { late: true } : {}) };
        accepted.push({ prediction, value });
      });
    }
    if (accepted.length > 0) await this.fold(name, accepted);
    const count = (s: FeedbackStatus) => results.filter((r) => r.status === s).length;
    return { model: name, total: results.length, accepted: count('accepted'), duplicate: count('duplicate'), unknown: count('unknown'), expired: count('expired'), results };
  }

  /** Adds accepted rows to the aggregates, recalibrates the versions they belong to, and checks the bands. */
  private async fold(name: string, rows: readonly { prediction: StoredPrediction; value: number }[]): Promise<void> {
    const buckets = new Map<string, QualityBucket>();
    const ordered = [...rows].sort((a, b) => a.prediction.time.localeCompare(b.prediction.time));
    for (const { prediction: p, value } of ordered) {
      const error = p.prediction - value;
      const covered = p.interval ? value >= p.interval[0] && value <= p.interval[1] : undefined;
      for (const hour of [hourOf(p.time), 'all']) {
        const key = `${hour}|${p.version}|${p.plant ?? '-'}`;
        const b = buckets.get(key) ?? { ...emptyAggregate(), version: p.version, plant: p.plant ?? '-', hour };
        b.count++;
        b.sumErr += error;
        b.sumAbs += Math.abs(error);
        b.sumSq += error * error;
        if (covered !== undefined) {
          b.withInterval++;
          if (covered) b.covered++;
        }
        buckets.set(key, b);
      }
    }
    await this.store.add(name, [...buckets.values()]);
    if (this.options.recalibration !== false && ordered.some(({ prediction: p }) => p.interval)) {
      // The width factor is shared by everyone the version serves: only feedback from the model owner's side
      // (its plant, or platform principals for a platform-wide model) moves it. A plant's feedback on a model it
      // is served but does not own counts in that plant's figures, never in the interval other plants get.
      const owner = await this.registry.ownerFor(name, internalSubject);
      const ownSide = ordered.filter(({ prediction: p }) => (p.plant ?? undefined) === (owner?.plant ?? undefined) && p.interval);
      const byVersion = new Map<string, { covered: boolean[]; level: number | null }>();
      for (const { prediction: p, value } of ownSide) {
        const v = byVersion.get(p.version) ?? { covered: [], level: p.level };
        v.covered.push(value >= p.interval![0] && value <= p.interval![1]);
        byVersion.set(p.version, v);
      }
      for (const [version, { covered, level }] of byVersion) if (level !== null) await this.updateFactor(name, version, covered, level);
    }
    if (this.bands) {
      const plants = new Set(rows.map((r) => `${r.prediction.version}|${r.prediction.plant ?? ''}`));
      for (const key of plants) {
        const [version, plant] = key.split('|') as [string, string];
        await this.bands!.check(name, version, plant || undefined, undefined, { drift: false }).catch((error: unknown) => this.fail(error));
      }
    }
  }

  private async updateFactor(name: string, version: string, covered: boolean[], level: number): Promise<void> {
    // Optimistic concurrency: two feedback calls folding at once both land (a lost one is retried).
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.store.getRecalibration(name, version);
      const next = recalibrate(current ?? initialRecalibration, covered, level, this.options.recalibrationOptions);
      const record = { version, ...next, updated: new Date(this.now()).toISOString(), revision: (current?.revision ?? 0) + 1 };
      if (await this.store.putRecalibration(name, record, current?.revision ?? 0)) {
        this.factors.delete(`${name}@${version}`);
        return;
      }
    }
  }

  /**
   * The scheduled evaluation (EventBridge in AWS, a timer in the local twin): the bands and drift feedback
   * checks, for every model (./evaluation.ts).
   */
  async evaluate(): Promise<{ models: number; checked: number; failed: number }> {
    if (!this.bands) return { models: 0, checked: 0, failed: 0 };
    return this.bands.evaluate(await this.registry.names());
  }

  private async drift(principal: Principal, name: string, manifest: ModelManifest) {
    return recentDrift(this.log, name, manifest, this.now(), (r) => r.plant === principal.plant || (!principal.plant && canSeePlant(principal, r.plant)), this.options, principal.plant);
  }

  /**
   * Adds a calibration to a published version (the package stays as published): served by every container
   * within `factorCacheMs`, answered with `interval_calibrated: true`, and online recalibration starts afresh.
   */
  async calibrate(principal: Principal, rawName: string, version: string, body: CalibrationRequest) {
    const { name } = await this.visibleModel(principal, rawName);
    // Calibrating changes what every principal the model serves is told: its managers only.
    requireModelAccess(principal, name, await this.registry.ownerFor(name, subjectOf(principal)), 'manage');
    if (!semverSchema.safeParse(version).success) throw new ModelNotFoundError(name, version);
    const model = await this.registry.version(name, version, subjectOf(principal));
    const at = new Date(this.now()).toISOString();
    const digest = createHash('sha256').update(JSON.stringify(body.rows)).digest('hex');
    const stored = await calibrateVersion(model, body, at, digest);
    await this.store.putCalibration(name, version, stored);
    const current = await this.store.getRecalibration(name, version);
    await this.store.putRecalibration(name, { version, ...initialRecalibration, updated: at, revision: (current?.revision ?? 0) + 1 }, current?.revision ?? 0);
    this.factors.delete(`${name}@${version}`);
    return { name, version, interval: stored.interval, calibration: stored.calibration };
  }

  /** A version as it serves here: its package plus any calibration added later. */
  private async served(name: string, version: string): Promise<TwinModel> {
    // Only after the caller's access to `name` was checked (visibleModel), or for the service's own checks.
    const model = await this.registry.version(name, version, internalSubject);
    model.applyCalibration((await this.serving(name, version)).calibration);
    return model;
  }

  /** GET /api/v1/models/{name}/quality: per version and plant over windows, the A/B verdict, recalibration, drift. */
  async quality(principal: Principal, rawName: string) {
    const { name, routingVersions } = await this.visibleModel(principal, rawName);
    const now = this.now();
    const buckets = (await this.store.read(name, windowStart('7d', now))).filter((b) => canSeePlant(principal, b.plant === '-' ? undefined : b.plant) && (!principal.plant || b.plant === principal.plant));
    const versions = [...new Set([...routingVersions, ...buckets.map((b) => b.version)])];
    const levels = new Map<string, number | null>();
    const manifests = new Map<string, ModelManifest>();
    for (const v of versions) {
      const model = await this.served(name, v).catch(() => undefined);
      levels.set(v, model ? statedLevel(model.interval) : null);
      if (model) manifests.set(v, model.manifest);
    }
    const render = (agg: Record<WindowName, ReturnType<typeof emptyAggregate>> | undefined, level: number | null) =>
      Object.fromEntries(windowNames.map((w) => [w, errorStats(agg?.[w] ?? emptyAggregate(), level)]));
    const perVersion = windowAggregates(buckets, now, (b) => b.version);
    const perPlant = windowAggregates(buckets, now, (b) => `${b.version}|${b.plant}`);
    const ab = routingVersions.length >= 2 ? this.abView(routingVersions[0]!, routingVersions[1]!, perVersion) : null;
    const recalibration = await Promise.all(
      versions.map(async (version) => {
        const state = await this.store.getRecalibration(name, version);
        return { version, enabled: this.options.recalibration !== false, factor: state?.factor ?? 1, updates: state?.updates ?? 0, coverage: state?.updates ? 1 - state.misses / state.updates : null, updated: state?.updated ?? null };
      }),
    );
    const drift = await Promise.all(routingVersions.filter((v) => manifests.has(v)).map(async (version) => ({ version, features: await this.drift(principal, name, manifests.get(version)!) })));
    const series = buckets
      .filter((b) => b.hour !== 'all')
      .map((b) => ({ version: b.version, plant: b.plant === '-' ? null : b.plant, hour: b.hour, ...errorStats(b, levels.get(b.version) ?? null) }))
      .sort((a, b) => a.hour.localeCompare(b.hour));
    return {
      model: name,
      generated: new Date(now).toISOString(),
      windows: windowNames,
      window_basis: 'prediction time, hour-granular',
      versions: versions.map((version) => ({ version, level: levels.get(version) ?? null, windows: render(perVersion.get(version), levels.get(version) ?? null) })),
      plants: [...perPlant.entries()].map(([key, agg]) => {
        const [version, plant] = key.split('|') as [string, string];
        return { version, plant: plant === '-' ? null : plant, windows: render(agg, levels.get(version) ?? null) };
      }),
      ab,
      recalibration,
      drift,
      series,
    };
  }

  private abView(a: string, b: string, perVersion: ReturnType<typeof windowAggregates>) {
    const aggA = perVersion.get(a);
    const aggB = perVersion.get(b);
    return {
      versions: [a, b],
      test: 'welch-t on absolute error (two-sided)',
      alpha: 0.05,
      windows: Object.fromEntries(windowNames.map((w) => [w, aggA && aggB ? abVerdict(a, b, aggA[w], aggB[w], w) : null])),
    };
  }
}

function dedupeKeys(keys: readonly PredictionKey[]): PredictionKey[] {
  const seen = new Map<string, PredictionKey>();
  for (const k of keys) seen.set(`${k.requestId}#${k.row}`, k);
  return [...seen.values()];
}

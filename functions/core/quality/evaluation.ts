import type { ModelManifest } from '../manifest.js';
import type { TwinModel } from '../twin/model.js';
import type { QualityAlerts } from './alerts.js';
import type { PredictionLog, QualityBucket, QualityStore, ServedPair, StoredPrediction } from './ports.js';
import type { QualityOptions } from './service.js';
import { errorStats, featureDrift, statedLevel, windowAggregates, windowStart } from './view.js';

/**
 * Quality alerts' judgements, per version and plant over the last day: coverage and error against their
 * bands (with enough measured rows) and input drift (with enough served rows, no feedback needed). Run after
 * each feedback call and by the schedule (functions/routes.ts `schedules`) for every model. The alerts carry the
 * anomaly alerts' no-storm rules (./alerts.ts), so judging often sends nothing more.
 */

type BandOptions = Pick<QualityOptions, 'coverageTolerance' | 'errorFactor' | 'minAlertRows' | 'driftThreshold' | 'driftRows' | 'servedOverlapSeconds'>;

const dayMs = 86_400_000;

export interface QualityBandsDeps {
  log: PredictionLog;
  store: QualityStore;
  alerts: QualityAlerts;
  options: BandOptions;
  now: () => number;
  /** A version as it serves (its package plus any calibration added later). */
  served: (name: string, version: string) => Promise<TwinModel>;
  /** Bookkeeping failures: counted and logged, never thrown at a caller. */
  fail: (error: unknown) => void;
}

/**
 * The last day's served rows of `manifest`'s version that `keep` admits, against its histograms (PSI). `plant`:
 * read that plant's rows only (null: platform principals'), so another plant's traffic never crowds them out
 * of the `driftRows` read; absent: every plant's.
 */
export async function recentDrift(log: PredictionLog, name: string, manifest: ModelManifest, now: number, keep: (r: StoredPrediction) => boolean, options: BandOptions, plant?: string | null) {
  const rows = (await log.byTime(name, new Date(now - 86_400_000).toISOString(), new Date(now).toISOString(), options.driftRows ?? 5000, plant)).filter(
    (r) => r.version === manifest.version && r.ttl * 1000 > now && keep(r),
  );
  return featureDrift(manifest, rows, options.driftThreshold ?? 0.25);
}

export class QualityBands {
  constructor(private readonly deps: QualityBandsDeps) {}

  /**
   * The scheduled evaluation (EventBridge in AWS, a timer in the local twin) of the models `names`: per
   * version and plant that has feedback or served rows in the last day, so drift and a window that has gone
   * quiet are still judged. One model's failure is counted and does not stop the others.
   */
  async evaluate(names: readonly string[]): Promise<{ models: number; checked: number; failed: number }> {
    const { store } = this.deps;
    let checked = 0;
    let failed = 0;
    for (const name of names) {
      try {
        const now = this.deps.now();
        // Who was served today, from the index alone: a plant whose rows are older than another plant's newest
        // thousands is still judged (each pair then reads its own plant's rows).
        const [buckets, served] = await Promise.all([store.read(name, windowStart('day', now)), this.servedToday(name, now)]);
        const pairs = new Set([...buckets.filter((b) => b.hour !== 'all').map((b) => `${b.version}|${b.plant === '-' ? '' : b.plant}`), ...served.map((p) => `${p.version}|${p.plant ?? ''}`)]);
        for (const pair of [...pairs].sort()) {
          const [version, plant] = pair.split('|') as [string, string];
          await this.check(name, version, plant || undefined, { buckets });
          checked++;
        }
      } catch (error) {
        failed++;
        this.deps.fail(error);
      }
    }
    return { models: names.length, checked, failed };
  }

  /**
   * Every (version, plant) with a served request in the last day, as a read of the whole day's index would find
   * it, but reading only what is new: the index from the last run's end less `servedOverlapSeconds` (default
   * 300) to now, merged with the pairs the store kept (each with its newest request's time; a pair leaves when
   * that is over a day old). At a million requests a day a 15-minute run reads ~20 minutes of index entries
   * (~1.4 MB), not the day's ~100 MB. The guarantee: a request whose index entry is readable within the
   * overlap of its time stamp is found (its write, the index's propagation and the clocks' skew take far less);
   * without a cursor (first run, one older than a day, or one from a clock now behind it), the whole day is read.
   */
  private async servedToday(name: string, now: number): Promise<ServedPair[]> {
    const { log, store } = this.deps;
    const dayAgo = new Date(now - dayMs).toISOString();
    const cursor = await store.getServedCursor(name);
    const readTo = cursor ? Date.parse(cursor.readTo) : Number.NaN;
    const from = cursor && readTo <= now ? Math.max(now - dayMs, readTo - (this.deps.options.servedOverlapSeconds ?? 300) * 1000) : now - dayMs;
    const read = await log.servedPairs(name, new Date(from).toISOString(), new Date(now).toISOString());
    const pairs = new Map<string, ServedPair>();
    // Kept pairs only from a cursor read before now (a clock that went back re-reads the day instead).
    for (const p of [...(cursor && readTo <= now ? cursor.pairs : []), ...read]) {
      const key = `${p.version}|${p.plant ?? ''}`;
      const seen = pairs.get(key);
      if (p.last >= dayAgo && (!seen || seen.last < p.last)) pairs.set(key, p);
    }
    const today = [...pairs.values()];
    // A run racing another loses its write, not its judgement: the next run reads again from the winner's end.
    // A failed write costs the next run a longer read, never this run's judgement.
    await store.putServedCursor(name, { readTo: new Date(now).toISOString(), pairs: today, revision: (cursor?.revision ?? 0) + 1 }, cursor?.revision ?? 0).catch((error: unknown) => this.deps.fail(error));
    return today;
  }

  /**
   * One version and plant. `read`: the model's buckets when the caller has them (the scheduled evaluation
   * reads them once per model). `judge.drift: false` after a feedback call: drift needs
   * no lab results and costs a read of the day's served rows, so the schedule alone judges it (a caller's
   * small feedback call must not cost the server thousands of item reads).
   */
  async check(name: string, version: string, plant: string | undefined, read?: { buckets: readonly QualityBucket[] }, judge: { drift: boolean } = { drift: true }): Promise<void> {
    const { store, alerts, options } = this.deps;
    const now = this.deps.now();
    const buckets = (read?.buckets ?? (await store.read(name, windowStart('day', now)))).filter((b) => b.version === version && b.plant === (plant ?? '-'));
    const agg = windowAggregates(buckets, now, () => 'x').get('x');
    const model = await this.deps.served(name, version);
    const minRows = options.minAlertRows ?? 30;
    const base = { model: name, version, ...(plant ? { plant } : {}), window: 'day' };
    const stats = agg ? errorStats(agg.day, statedLevel(model.interval)) : undefined;
    if (agg && stats && stats.count >= minRows) {
      const all = errorStats(agg.all, null);
      if (stats.coverage !== null && stats.level !== null) {
        const min = stats.level - (options.coverageTolerance ?? 0.1);
        const alert = { ...base, rule: 'coverage_low' as const, value: stats.coverage, band: { min }, detail: { level: stats.level, rows: stats.count } };
        await (stats.coverage < min ? alerts.breach(alert) : alerts.clear(alert));
      }
      if (stats.mae !== null && all.mae !== null && all.count >= 2 * minRows) {
        const max = all.mae * (options.errorFactor ?? 1.5);
        const alert = { ...base, rule: 'error_high' as const, value: stats.mae, band: { max }, detail: { all_time_mae: all.mae, rows: stats.count } };
        await (stats.mae > max ? alerts.breach(alert) : alerts.clear(alert));
      }
    }
    if (!judge.drift) return;
    // One judgement per version and plant (the alert key has no feature): a feature in band must not resolve
    // the alert another feature's drift raised. The worst feature is named, with every drifting one.
    const threshold = options.driftThreshold ?? 0.25;
    const drift = await recentDrift(this.deps.log, name, model.manifest, now, (r) => (r.plant ?? undefined) === plant, options, plant ?? null);
    const judged = drift.filter((d): d is typeof d & { psi: number } => d.psi !== null && d.rows >= minRows);
    if (judged.length > 0) {
      const worst = judged.reduce((a, b) => (b.psi > a.psi ? b : a));
      const drifting = judged.filter((d) => d.psi > threshold).map((d) => d.feature);
      const alert = { ...base, rule: 'input_drift' as const, value: worst.psi, band: { max: threshold }, detail: { feature: worst.feature, drifting, rows: worst.rows } };
      await (drifting.length > 0 ? alerts.breach(alert) : alerts.clear(alert));
    }
  }
}

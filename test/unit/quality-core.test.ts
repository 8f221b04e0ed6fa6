import { describe, expect, it } from 'vitest';
import type { AlertClaim, AlertEvent, AlertStateStore } from '../../functions/core/ports.js';
import { QualityAlerts, type QualityAlert } from '../../functions/core/quality/alerts.js';
import { featureHistogram, psi } from '../../functions/core/quality/drift.js';
import { emptyAggregate, type QualityBucket } from '../../functions/core/quality/ports.js';
import { initialRecalibration, recalibrate } from '../../functions/core/quality/recalibration.js';
import { studentTwoSidedP, welchAbsoluteError } from '../../functions/core/quality/stats.js';
import { abVerdict, windowAggregates } from '../../functions/core/quality/view.js';
import { Prng } from '../../models/tools/prng.js';

const moments = (xs: number[]) => ({ n: xs.length, sumAbs: xs.reduce((s, x) => s + Math.abs(x), 0), sumSq: xs.reduce((s, x) => s + x * x, 0) });

describe('significance test (Welch on absolute error)', () => {
  it('matches closed forms of Student t: df 1 (Cauchy) and df 2', () => {
    for (const t of [0.3, 1, 2.5, 10]) {
      expect(studentTwoSidedP(t, 1)).toBeCloseTo(1 - (2 * Math.atan(t)) / Math.PI, 10);
      expect(studentTwoSidedP(t, 2)).toBeCloseTo(1 - t / Math.sqrt(2 + t * t), 10);
    }
    // Large df: the normal's 1.96 gives 5 %.
    expect(studentTwoSidedP(1.959964, 1e7)).toBeCloseTo(0.05, 5);
  });

  it('computes t and Welch–Satterthwaite df on a known case', () => {
    const r = welchAbsoluteError(moments([1, 2, 3, 4, 5]), moments([2, 4, 6, 8, 10]))!;
    expect(r.t).toBeCloseTo(-3 / Math.sqrt(2.5), 10);
    expect(r.df).toBeCloseTo(6.25 / 1.0625, 10);
    expect(r.pValue).toBeGreaterThan(0.1);
    expect(r.pValue).toBeLessThan(0.11);
  });

  it('names the better variant only when the difference is significant', () => {
    const rng = new Prng(3);
    const a = Array.from({ length: 400 }, () => rng.normal());
    const b = Array.from({ length: 400 }, () => 1.5 * rng.normal());
    const agg = (xs: number[]) => ({ ...emptyAggregate(), count: xs.length, sumAbs: moments(xs).sumAbs, sumSq: moments(xs).sumSq });
    const verdict = abVerdict('1.0.0', '1.1.0', agg(a), agg(b), 'all')!;
    expect(verdict.better).toBe('1.0.0');
    expect(verdict.p_value).toBeLessThan(0.001);
    const same = abVerdict('1.0.0', '1.1.0', agg(a.slice(0, 200)), agg(a.slice(200)), 'all')!;
    expect(same.better).toBeNull();
    expect(abVerdict('1.0.0', '1.1.0', agg([1]), agg(b), 'all')).toBeNull();
  });
});

describe('online recalibration (adaptive conformal on the width)', () => {
  it('converges so that coverage tracks the level when the calibrated interval is too narrow', () => {
    const rng = new Prng(11);
    const level = 0.9;
    // The served half-width believes sd 0.6; the residuals have sd 1.
    const base = 1.6449 * 0.6;
    let state = initialRecalibration;
    const late: boolean[] = [];
    for (let i = 0; i < 6000; i++) {
      const hit = Math.abs(rng.normal()) <= base * state.factor;
      if (i >= 4000) late.push(hit);
      state = recalibrate(state, [hit], level);
    }
    expect(state.factor).toBeGreaterThan(1.45);
    expect(state.factor).toBeLessThan(1.9);
    expect(late.filter(Boolean).length / late.length).toBeGreaterThan(0.88);
    expect(late.filter(Boolean).length / late.length).toBeLessThan(0.92);
  });

  it('stays within its bounds whatever the feedback', () => {
    expect(recalibrate(initialRecalibration, Array(5000).fill(false), 0.9).factor).toBeCloseTo(3, 10);
    expect(recalibrate(initialRecalibration, Array(50000).fill(true), 0.9).factor).toBeCloseTo(0.5, 10);
  });
});

describe('windows (injected clock)', () => {
  it('sums hour buckets into hour, day, 7d and the all-time item', () => {
    const now = Date.parse('2031-06-15T12:34:00Z');
    const bucket = (hour: string, count: number): QualityBucket => ({ ...emptyAggregate(), count, sumAbs: count, version: '1.0.0', plant: '-', hour });
    const buckets = [bucket('2031-06-15T12:00:00.000Z', 1), bucket('2031-06-15T11:00:00.000Z', 2), bucket('2031-06-15T07:00:00.000Z', 4), bucket('2031-06-12T00:00:00.000Z', 8), bucket('2031-06-01T00:00:00.000Z', 16), bucket('all', 100)];
    const w = windowAggregates(buckets, now, (b) => b.version).get('1.0.0')!;
    expect([w.hour.count, w.day.count, w['7d'].count, w.all.count]).toEqual([3, 7, 15, 100]);
  });
});

describe('drift (PSI against the manifest histogram)', () => {
  it('is near 0 for the same distribution and large for a shifted one', () => {
    const rng = new Prng(5);
    const reference = featureHistogram(Array.from({ length: 2000 }, () => rng.normal()));
    expect(psi(Array.from({ length: 2000 }, () => rng.normal()), reference)!).toBeLessThan(0.05);
    expect(psi(Array.from({ length: 2000 }, () => rng.normal() + 1), reference)!).toBeGreaterThan(0.25);
    expect(psi([], reference)).toBeNull();
  });
});

/** The cooldown claims as DynamoDbAlertStateStore makes them. */
class MemoryAlertState implements AlertStateStore {
  readonly items = new Map<string, { state: 'firing' | 'resolved'; lastSent: string }>();
  async claim(key: string, now: string, cooldownSeconds: number): Promise<AlertClaim | undefined> {
    const current = this.items.get(key);
    if (current && Date.parse(current.lastSent) > Date.parse(now) - cooldownSeconds * 1000) return undefined;
    this.items.set(key, { state: 'firing', lastSent: now });
    return current ? { at: now, previous: { ...current } } : { at: now };
  }
  /** As the store: the cooldown stands; a firing alert stays firing, anything else is not firing (nothing resolves it). */
  async suppress(key: string, claim: AlertClaim) {
    if (this.items.get(key)?.lastSent === claim.at) this.items.set(key, { state: claim.previous?.state === 'firing' ? 'firing' : 'resolved', lastSent: claim.at });
  }
  async release(key: string, claim: AlertClaim): Promise<void> {
    if (claim.previous) this.items.set(key, claim.previous);
    else this.items.delete(key);
  }
  async resolve(key: string): Promise<boolean> {
    const current = this.items.get(key);
    if (current?.state !== 'firing') return false;
    this.items.set(key, { ...current, state: 'resolved' });
    return true;
  }
  async unresolve(key: string): Promise<void> {
    const current = this.items.get(key);
    if (current) this.items.set(key, { ...current, state: 'firing' });
  }
  async isFiring(key: string): Promise<boolean> {
    return this.items.get(key)?.state === 'firing';
  }
  async recordEvent(): Promise<'stored' | 'duplicate'> {
    return 'stored';
  }
  async recentEvents(): Promise<AlertEvent[]> {
    return [];
  }
}

describe('quality alerts without storms', () => {
  const alert: QualityAlert = { model: 'm', version: '1.0.0', rule: 'coverage_low', window: 'day', value: 0.6, band: { min: 0.8 }, detail: {} };

  it('sends one alert per cooldown however often the band is left, one resolved, and retries after a failed publish', async () => {
    let now = Date.parse('2031-01-01T00:00:00Z');
    const sent: { kind: string }[] = [];
    let failNext = false;
    const publisher = {
      async publish(m: { body: string; attributes: Record<string, string> }) {
        if (failNext) {
          failNext = false;
          throw new Error('SNS down');
        }
        sent.push({ kind: m.attributes.kind! });
      },
    };
    const alerts = new QualityAlerts(new MemoryAlertState(), publisher, { cooldownSeconds: 600, now: () => now });
    // A failed publish gives the claim back: the next breach sends.
    failNext = true;
    expect(await alerts.breach(alert)).toBe(false);
    for (let i = 0; i < 5; i++) {
      await alerts.breach(alert);
      now += 60_000;
    }
    expect(sent).toEqual([{ kind: 'quality' }]);
    now += 600_000;
    await alerts.breach(alert);
    expect(sent.length).toBe(2);
    await alerts.clear(alert);
    await alerts.clear(alert);
    expect(sent.map((s) => s.kind)).toEqual(['quality', 'quality', 'quality_resolved']);
    // Another plant's key is its own.
    await alerts.breach({ ...alert, plant: 'north' });
    expect(sent.length).toBe(4);
  });
});

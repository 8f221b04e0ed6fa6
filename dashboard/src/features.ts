import type { FeatureSpec } from './types.js';

/** What one slider + number box needs, derived from a manifest feature (never hard-coded per model). */
export interface InputSpec {
  name: string;
  /** "Reactor temperature" (the feature's description) or the feature name. */
  label: string;
  unit: string;
  min: number;
  max: number;
  step: number;
  /** Decimals the step needs, for display. */
  decimals: number;
  initial: number;
}

/** About a hundred slider positions across the range, on a 1-2-5 ladder: 300..400 -> 1, 1..10 -> 0.1. */
export function niceStep(min: number, max: number): number {
  const span = max - min;
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / 100;
  const exponent = Math.floor(Math.log10(raw));
  const fraction = raw / 10 ** exponent;
  const nice = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10;
  return Number((nice * 10 ** exponent).toPrecision(12));
}

export function decimalsOf(step: number): number {
  const text = String(step);
  if (text.includes('e-')) return Number(text.split('e-')[1]);
  return text.includes('.') ? text.split('.')[1]!.length : 0;
}

/** Rounds to the nearest step from `min`, inside [min, max], without float dust (0.30000000000000004). */
export function snap(value: number, spec: Pick<InputSpec, 'min' | 'max' | 'step' | 'decimals'>): number {
  const clamped = Math.min(spec.max, Math.max(spec.min, value));
  const steps = Math.round((clamped - spec.min) / spec.step);
  return Math.min(spec.max, Number((spec.min + steps * spec.step).toFixed(spec.decimals)));
}

export function inputSpec(feature: FeatureSpec): InputSpec {
  const step = feature.step && feature.step > 0 ? feature.step : niceStep(feature.min, feature.max);
  const decimals = decimalsOf(step);
  const base = { min: feature.min, max: feature.max, step, decimals };
  return {
    name: feature.name,
    label: feature.description?.trim() || feature.name,
    unit: feature.unit ?? '',
    ...base,
    // The middle of the valid range: a safe operating point to start from.
    initial: snap((feature.min + feature.max) / 2, base),
  };
}

export type ValueCheck = { ok: true; value: number } | { ok: false; message: string };

/** What the number box accepts: the manifest's rule (a finite number inside the inclusive range). */
export function checkValue(text: string, spec: InputSpec): ValueCheck {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, message: `Enter a value from ${spec.min} to ${spec.max}` };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { ok: false, message: 'Enter a number' };
  if (value < spec.min || value > spec.max) return { ok: false, message: `Must be from ${spec.min} to ${spec.max}${spec.unit ? ` ${spec.unit}` : ''}` };
  return { ok: true, value };
}

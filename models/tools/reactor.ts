import type { Prng } from './prng.js';

/**
 * The reference reactor's yield response surface (%), a function of temperature (°C), pressure (bar) and
 * feed flow (kg/h):
 *
 *   yield = 85 * exp(-(T-360)^2 / (2*850) - (P-6)^2 / (2*21.25)) + 1.5 * (F-100) / 50  [+ noise, sd 0.5]
 *
 * clamped to [0, 100]. Near the peak (360 °C, 6 bar) its Taylor expansion is the dashboard formula
 * 85 - 0.05 (T-360)^2 - 2 (P-6)^2, but unlike that quadratic it stays within 0..100 over the whole valid
 * range and falls below the 70 % alert threshold towards the edges.
 */

export const REACTOR_FEATURES = [
  { name: 'temp', unit: '°C', description: 'Reactor temperature', min: 300, max: 400 },
  { name: 'pressure', unit: 'bar', description: 'Reactor pressure', min: 1, max: 10 },
  { name: 'flow', unit: 'kg/h', description: 'Feed flow rate', min: 50, max: 150 },
] as const;

export const REACTOR_NOISE_SD = 0.5;

export const REACTOR_SURFACE_TEXT =
  'yield = 85*exp(-(T-360)^2/(2*850) - (P-6)^2/(2*21.25)) + 1.5*(F-100)/50 + N(0, 0.5^2), clamped to [0, 100]';

function clampPercent(v: number): number {
  return Math.min(100, Math.max(0, v));
}

/** The noise-free surface (%), clamped to [0, 100]. */
export function reactorYieldExact(temp: number, pressure: number, flow: number): number {
  const dt = temp - 360;
  const dp = pressure - 6;
  return clampPercent(85 * Math.exp(-(dt * dt) / (2 * 850) - (dp * dp) / (2 * 21.25)) + (1.5 * (flow - 100)) / 50);
}

/** One noisy observation (%): the surface plus N(0, sd^2) noise drawn from `rng`, clamped to [0, 100]. */
export function reactorYield(temp: number, pressure: number, flow: number, rng: Prng, sd = REACTOR_NOISE_SD): number {
  const dt = temp - 360;
  const dp = pressure - 6;
  const raw = 85 * Math.exp(-(dt * dt) / (2 * 850) - (dp * dp) / (2 * 21.25)) + (1.5 * (flow - 100)) / 50;
  return clampPercent(raw + sd * rng.normal());
}

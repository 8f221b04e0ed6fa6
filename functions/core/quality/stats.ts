/**
 * The A/B verdict's significance test: Welch's unequal-variance t-test on the absolute errors of two
 * versions. It needs only each version's count, sum and sum of squares of |error| (squared |error| is the
 * squared error), so it runs on the additive aggregates the quality store keeps, over any window, without
 * keeping per-row errors. The rows of two variants are different rows (each request goes to one variant),
 * so a paired test does not apply.
 */

export interface ErrorMoments {
  n: number;
  /** Σ|e| */
  sumAbs: number;
  /** Σe² (= Σ|e|²) */
  sumSq: number;
}

export interface WelchResult {
  test: 'welch-t on absolute error (two-sided)';
  t: number;
  df: number;
  pValue: number;
  /** Mean absolute error of a and b. */
  meanA: number;
  meanB: number;
}

/** log Γ(x) by the Lanczos approximation (g = 7, n = 9), |error| < 1e-13 for x > 0. */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta (Numerical Recipes' betacf, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Two-sided p-value of Student's t with `df` degrees of freedom. */
export function studentTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** Welch's t-test of mean |error| of a against b; undefined with fewer than 2 rows on a side or no variance at all. */
export function welchAbsoluteError(a: ErrorMoments, b: ErrorMoments): WelchResult | undefined {
  if (a.n < 2 || b.n < 2) return undefined;
  const meanA = a.sumAbs / a.n;
  const meanB = b.sumAbs / b.n;
  const varA = Math.max(0, (a.sumSq - a.n * meanA * meanA) / (a.n - 1));
  const varB = Math.max(0, (b.sumSq - b.n * meanB * meanB) / (b.n - 1));
  const sa = varA / a.n;
  const sb = varB / b.n;
  if (sa + sb === 0) return undefined;
  const t = (meanA - meanB) / Math.sqrt(sa + sb);
  const df = (sa + sb) ** 2 / ((sa * sa) / (a.n - 1) + (sb * sb) / (b.n - 1));
  return { test: 'welch-t on absolute error (two-sided)', t, df, pValue: studentTwoSidedP(t, df), meanA, meanB };
}

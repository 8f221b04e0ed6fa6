/**
 * Seeded, deterministic pseudo-random numbers for the model tooling.
 *
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state, 32-bit output), seeded from a
 * 32-bit seed through splitmix32. Everything is 32-bit integer arithmetic (Math.imul, >>>), so a seed gives
 * the same sequence on every platform and Node version. The normal deviates use Box-Muller, which relies on
 * Math.log/sqrt/cos; V8 implements those with its own port of fdlibm, so they are platform independent too.
 */

/** splitmix32: a good 32-bit mixer, used to expand a seed into generator state and to derive sub-seeds. */
export function splitmix32(state: number): { value: number; state: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  z ^= z >>> 15;
  return { value: z >>> 0, state: next };
}

/** FNV-1a over a label's UTF-16 code units, mixed with a seed: an independent stream per purpose. */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return splitmix32(h).value;
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = splitmix32(s);
      words.push(r.value);
      s = r.state;
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    // Discard the first outputs, as recommended for sfc32.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A sub-generator for one purpose (e.g. 'lhs', 'noise', 'tree-3'), independent of this one's state. */
  static derive(seed: number, label: string): Prng {
    return new Prng(deriveSeed(seed, label));
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), a multiple of 2^-32. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Uniform integer in [0, n), n <= 2^32 (multiply-shift; the bias is below 2^-32 * n, irrelevant here). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`int(n) needs an integer 1..2^32, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Standard normal deviate (Box-Muller, cosine branch; one deviate per two uniforms, no caching). */
  normal(): number {
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

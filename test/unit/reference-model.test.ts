import { readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelManifestSchema, sha256Hex, verifyPackage } from '../../functions/core/manifest.js';
import { featureEnvelope } from '../../models/tools/envelope.js';
import { latinHypercube, stratumOf } from '../../models/tools/lhs.js';
import { Prng, deriveSeed } from '../../models/tools/prng.js';
import { REACTOR_FEATURES, reactorYield, reactorYieldExact } from '../../models/tools/reactor.js';
import { REFERENCE, type ReferencePackage, buildReferencePackage, referenceTrainingData } from '../../models/tools/reference.js';

const packageUrl = new URL('../../models/reactor-yield/1.0.0/', import.meta.url);
const modelBytes = new Uint8Array(readFileSync(new URL('model.onnx', packageUrl)));
const manifestText = readFileSync(new URL('manifest.json', packageUrl), 'utf8');

describe('the committed reactor-yield@1.0.0 package', () => {
  let pkg: ReferencePackage;

  beforeAll(() => {
    pkg = buildReferencePackage(); // the one regeneration in this file (~0.3 s)
  });

  it('has a manifest that parses and a digest that matches model.onnx', () => {
    const manifest = modelManifestSchema.parse(JSON.parse(manifestText));
    expect(verifyPackage('reactor-yield@1.0.0', JSON.parse(manifestText), modelBytes)).toEqual(manifest);
    expect(manifest.sha256).toBe(sha256Hex(modelBytes));
    expect(manifest).toMatchObject({
      name: 'reactor-yield',
      version: '1.0.0',
      created: '2026-11-25',
      modelType: 'RandomForestRegressor',
      target: { name: 'yield', unit: '%' },
      onnx: { input: 'input', output: 'members' },
      output: { kind: 'ensemble', members: 20 },
      interval: { method: 'ensemble-percentile', lower: 5, upper: 95 },
      alerts: { min: 70, max: 95 },
    });
    expect(manifest.features.map((f) => [f.name, f.unit, f.min, f.max])).toEqual([
      ['temp', '°C', 300, 400],
      ['pressure', 'bar', 1, 10],
      ['flow', 'kg/h', 50, 150],
    ]);
    expect(manifestText.endsWith('}\n')).toBe(true);
  });

  it("records each feature's training envelope (float32 inputs, linear-interpolated 1st/99th percentiles)", () => {
    const manifest = modelManifestSchema.parse(JSON.parse(manifestText));
    const { x } = referenceTrainingData();
    manifest.features.forEach((f, i) => {
      const column = x.map((row) => row[i] as number).sort((a, b) => a - b);
      const e = f.envelope;
      expect(e).toEqual(featureEnvelope(column));
      expect(e?.min).toBe(column[0]);
      expect(e?.max).toBe(column[column.length - 1]);
      // Latin hypercube: the samples fill the valid range, and the 1 % tails are about 1 % of it wide.
      const width = f.max - f.min;
      expect(e!.min).toBeGreaterThanOrEqual(f.min);
      expect(e!.max).toBeLessThanOrEqual(f.max);
      expect(Math.abs(e!.q01 - (f.min + 0.01 * width))).toBeLessThan(0.002 * width);
      expect(Math.abs(e!.q99 - (f.min + 0.99 * width))).toBeLessThan(0.002 * width);
    });
  });

  it('regenerates byte-identically (same sha256 and manifest text)', () => {
    expect(sha256Hex(pkg.onnx)).toBe(sha256Hex(modelBytes));
    expect(pkg.manifestText).toBe(manifestText);
  });

  it('fits the noise-free surface on held-out data', () => {
    expect(pkg.holdoutRmse).toBeLessThan(1.5);
    expect((JSON.parse(manifestText) as { training: { holdoutRmse: number } }).training.holdoutRmse).toBe(pkg.holdoutRmse);
  });

  describe('served by onnxruntime', () => {
    let session: InferenceSession;

    beforeAll(async () => {
      session = await InferenceSession.create(modelBytes, { intraOpNumThreads: 1 });
    });
    afterAll(async () => {
      await session?.release();
    });

    /** The prediction (mean of the 20 members) for each [temp, pressure, flow] row. */
    async function predict(rows: number[][]): Promise<number[]> {
      const out = await session.run({ input: new Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 3]) });
      const data = out.members?.data as Float32Array;
      return rows.map((_, i) => data.subarray(i * 20, i * 20 + 20).reduce((s, v) => s + v, 0) / 20);
    }

    it('responds to temperature and peaks near 360 °C / 6 bar', async () => {
      const [t300, t330, t360, t390] = (await predict([300, 330, 360, 390].map((t) => [t, 6, 100]))) as [
        number,
        number,
        number,
        number,
      ];
      expect(new Set([t300, t330, t360, t390]).size).toBe(4);
      expect(t360).toBeGreaterThan(83);
      expect(t360).toBeLessThan(87);
      expect(t360).toBeGreaterThan(Math.max(t300, t330, t390));
    });

    it('falls below the 70 % alert threshold at the edges of the valid range', async () => {
      const edges = await predict([
        [300, 6, 100],
        [400, 6, 100],
        [360, 1, 100],
        [300, 1, 50],
        [400, 10, 150],
      ]);
      for (const y of edges) expect(y).toBeLessThan(70);
    });

    it('stays within 0..100 over a grid of the valid range', async () => {
      const grid: number[][] = [];
      for (let t = 300; t <= 400; t += 10) for (let p = 1; p <= 10; p += 1) for (let f = 50; f <= 150; f += 25) grid.push([t, p, f]);
      const ys = await predict(grid);
      expect(ys).toHaveLength(11 * 10 * 5);
      for (const y of ys) {
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(100);
      }
    });
  });
});

describe('reactor surface', () => {
  it('peaks at 85 % at 360 °C, 6 bar, 100 kg/h and matches the dashboard quadratic near the peak', () => {
    expect(reactorYieldExact(360, 6, 100)).toBe(85);
    for (const [dt, dp] of [
      [2, 0],
      [0, 0.3],
      [-3, -0.2],
    ] as const) {
      const quadratic = 85 - 0.05 * dt * dt - 2 * dp * dp;
      expect(Math.abs(reactorYieldExact(360 + dt, 6 + dp, 100) - quadratic)).toBeLessThan(0.02);
    }
  });

  it('stays within 0..100 and drops below 70 at the edges', () => {
    for (let t = 300; t <= 400; t += 5) {
      for (let p = 1; p <= 10; p += 0.5) {
        for (const f of [50, 100, 150]) {
          const y = reactorYieldExact(t, p, f);
          expect(y).toBeGreaterThanOrEqual(0);
          expect(y).toBeLessThanOrEqual(100);
        }
      }
    }
    expect(reactorYieldExact(300, 6, 150)).toBeLessThan(70);
    expect(reactorYieldExact(400, 6, 150)).toBeLessThan(70);
    expect(reactorYieldExact(360, 1, 150)).toBeLessThan(70);
  });

  it('adds noise with the stated spread', () => {
    const rng = new Prng(5);
    const residuals = Array.from({ length: 4000 }, () => reactorYield(360, 6, 100, rng) - 85);
    const mean = residuals.reduce((s, v) => s + v, 0) / residuals.length;
    const sd = Math.sqrt(residuals.reduce((s, v) => s + (v - mean) ** 2, 0) / residuals.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(sd).toBeGreaterThan(0.45);
    expect(sd).toBeLessThan(0.55);
  });
});

describe('Latin hypercube sampling', () => {
  it('puts exactly one sample in each stratum of each dimension (the reference design)', () => {
    const n = REFERENCE.samples;
    const rows = latinHypercube(n, REACTOR_FEATURES, deriveSeed(REFERENCE.seed, 'lhs'));
    expect(rows).toHaveLength(n);
    REACTOR_FEATURES.forEach((range, dim) => {
      const strata = rows.map((r) => stratumOf(r[dim] as number, range, n));
      expect(new Set(strata).size).toBe(n);
      for (const r of rows) {
        expect(r[dim]).toBeGreaterThanOrEqual(range.min);
        expect(r[dim]).toBeLessThan(range.max);
      }
    });
  });

  it('is deterministic per seed and works for small designs', () => {
    const ranges = [
      { min: 0, max: 1 },
      { min: -5, max: 5 },
    ];
    const a = latinHypercube(7, ranges, 1);
    expect(latinHypercube(7, ranges, 1)).toEqual(a);
    expect(latinHypercube(7, ranges, 2)).not.toEqual(a);
    ranges.forEach((range, dim) => {
      expect(a.map((r) => stratumOf(r[dim] as number, range, 7)).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    });
  });
});

describe('PRNG', () => {
  it('is deterministic per seed and differs between seeds and derived streams', () => {
    const draw = (rng: Prng) => Array.from({ length: 5 }, () => rng.nextUint32());
    expect(draw(new Prng(42))).toEqual(draw(new Prng(42)));
    expect(draw(new Prng(42))).not.toEqual(draw(new Prng(43)));
    expect(draw(Prng.derive(42, 'lhs'))).not.toEqual(draw(Prng.derive(42, 'noise')));
    expect(deriveSeed(42, 'lhs')).toBe(deriveSeed(42, 'lhs'));
  });

  it('gives uniforms in [0, 1) and standard normals', () => {
    const rng = new Prng(9);
    const n = 20_000;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    const z = Array.from({ length: n }, () => rng.normal());
    const mean = z.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(z.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });
});

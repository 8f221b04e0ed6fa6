import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { c as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canManageModel as coreCanManage } from '../../functions/core/models/tenancy.js';
import { predicted } from '../../dashboard/src/format.js';
import { chooseModel, hashForModel, mayManage, modelEntries, modelFromHash, splitRequest } from '../../dashboard/src/models.js';
import { gunzip, locatePackage, maxModelBytes, packageFromArchive, PackageFileError, parsePackage, readTar } from '../../dashboard/src/package-files.js';
import type { ModelInfo } from '../../dashboard/src/types.js';

const exec = promisify(execFile);

const info = (name: string, version = '1.0.0') => ({ name, version, feature_specs: [] }) as unknown as ModelInfo;

describe('dashboard: the model list', () => {
  it('joins the list with the servable descriptions; a never-activated model is listed, not pickable', () => {
    // Prepare
    const list = {
      models: [
        { name: 'reactor-yield', plant: null, active: '1.0.0', variants: null, shadow: null, versions: ['1.0.0'] },
        { name: 'column-purity', plant: 'north', active: null, variants: null, shadow: null, versions: ['1.0.0'] },
        { nonsense: true },
      ],
    };

    // Act
    const entries = modelEntries(list, [info('reactor-yield'), info('served-only', '2.0.0')]);

    // Assess
    expect(entries.map((e) => [e.name, e.plant, e.active, Boolean(e.info)])).toEqual([
      ['column-purity', 'north', null, false],
      ['reactor-yield', null, '1.0.0', true],
      ['served-only', null, '2.0.0', true],
    ]);
    expect(chooseModel(entries, 'column-purity', 'reactor-yield')?.name).toBe('reactor-yield');
    expect(chooseModel(entries, 'served-only', 'reactor-yield')?.name).toBe('served-only');
    expect(chooseModel(entries, undefined, 'gone')?.name).toBe('reactor-yield');
    expect(chooseModel([], 'x', 'y')).toBeUndefined();
    expect(modelEntries('nonsense', [])).toEqual([]);
  });

  it('keeps the choice in the URL fragment, and takes only a model name from it', () => {
    expect(hashForModel('column-purity')).toBe('#model=column-purity');
    expect(modelFromHash('#model=column-purity')).toBe('column-purity');
    expect(modelFromHash('')).toBeUndefined();
    expect(modelFromHash('#model=../etc')).toBeUndefined();
    expect(modelFromHash('#model=%3Cscript%3E')).toBeUndefined();
    fc.assert(fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,63}$/), (name) => modelFromHash(hashForModel(name)) === name));
  });

  it("shows lifecycle controls by the API's own rule", () => {
    const cases: [{ role: string; plant?: string }, string | null][] = [
      [{ role: 'admin' }, null],
      [{ role: 'admin' }, 'north'],
      [{ role: 'admin', plant: 'north' }, 'north'],
      [{ role: 'admin', plant: 'north' }, 'south'],
      [{ role: 'admin', plant: 'north' }, null],
      [{ role: 'operator' }, null],
    ];
    for (const [claims, plant] of cases) {
      const owner = plant ? { plant } : undefined;
      expect(mayManage(claims, { plant })).toBe(coreCanManage({ ...claims, id: 'x', type: 'user', username: 'x', scopes: [] } as never, owner as never));
    }
    expect(cases.map(([c, p]) => mayManage(c, { plant: p }))).toEqual([true, true, true, false, false, false]);
  });

  it('builds the A/B split the API accepts: two weights summing to 1', () => {
    expect(splitRequest('1.0.0', '1.1.0', 10)).toEqual({ variants: [{ version: '1.0.0', weight: 0.9 }, { version: '1.1.0', weight: 0.1 }] });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), (pct) => {
        const [a, b] = splitRequest('1.0.0', '1.1.0', pct).variants;
        return Math.abs(a!.weight + b!.weight - 1) < 1e-9 && b!.weight === pct / 100;
      }),
    );
  });

  it('shows predictions with about four significant digits, never fewer than two decimals', () => {
    expect(predicted(87.3123)).toBe('87.31');
    expect(predicted(3.14159)).toBe('3.142');
    expect(predicted(0.934127)).toBe('0.9341');
    expect(predicted(-0.5)).toBe('-0.5000');
    expect(predicted(null)).toBe('–');
  });
});

describe('code the dashboard shares with the core', () => {
  it.each(['functions/core/quality/figures.ts', 'functions/core/models/owner-rules.ts'])('%s imports nothing (the browser bundle takes it whole)', async (file) => {
    const source = await readFile(join(import.meta.dirname, '..', '..', file), 'utf8');
    expect(source).not.toMatch(/^\s*import\s/m);
  });
});

describe('dashboard: a picked model package', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twinserve-pkg-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds manifest.json and model.onnx side by side, at the shallowest level', () => {
    expect(locatePackage(['column-purity/1.0.0/manifest.json', 'column-purity/1.0.0/model.onnx'])).toEqual({ manifest: 'column-purity/1.0.0/manifest.json', model: 'column-purity/1.0.0/model.onnx' });
    expect(locatePackage(['./manifest.json', './model.onnx', 'old/manifest.json', 'old/model.onnx'])).toEqual({ manifest: 'manifest.json', model: 'model.onnx' });
    expect(() => locatePackage(['a/manifest.json', 'b/model.onnx'])).toThrow(/no manifest.json and model.onnx side by side/);
    expect(() => locatePackage(['a/manifest.json', 'a/model.onnx', 'b/manifest.json', 'b/model.onnx'])).toThrow(/several packages .*a, b/);
  });

  it('reads a .tgz written by tar (folders inside, long paths through pax headers)', async () => {
    // Prepare
    const deep = join('column-purity', 'x'.repeat(120), '1.0.0');
    await mkdir(join(dir, deep), { recursive: true });
    await writeFile(join(dir, deep, 'manifest.json'), JSON.stringify({ name: 'column-purity', version: '1.0.0' }));
    await writeFile(join(dir, deep, 'model.onnx'), new Uint8Array([1, 2, 3]));
    await createTar({ gzip: true, file: join(dir, 'pkg.tgz'), cwd: dir }, ['column-purity']);
    const bytes = await readFile(join(dir, 'pkg.tgz'));

    // Act
    const pkg = await packageFromArchive(Object.assign(new Blob([bytes]), { name: 'pkg.tgz' }));

    // Assess
    expect(pkg.manifest).toEqual({ name: 'column-purity', version: '1.0.0' });
    expect([...pkg.model]).toEqual([1, 2, 3]);
    expect(pkg.source).toBe('pkg.tgz');
  });

  it('reads the system tar too (GNU format)', async () => {
    await mkdir(join(dir, 'gnu'), { recursive: true });
    await writeFile(join(dir, 'gnu', 'manifest.json'), '{"name":"a","version":"1.0.0"}');
    await writeFile(join(dir, 'gnu', 'model.onnx'), 'onnx');
    await exec('tar', ['czf', join(dir, 'gnu.tgz'), '-C', join(dir, 'gnu'), '.']);
    const files = readTar(await gunzip(new Blob([await readFile(join(dir, 'gnu.tgz'))]).stream()));
    expect(locatePackage([...files.keys()])).toEqual({ manifest: 'manifest.json', model: 'model.onnx' });
  });

  it('refuses what is not a package, is too large, or is not an archive, with a reason', async () => {
    const json = new TextEncoder().encode('{"name":"a","version":"1.0.0"}');
    expect(() => parsePackage(json, new Uint8Array(maxModelBytes + 1), 'x')).toThrow(/model\.onnx is 3\.0 MB; the dashboard sends up to 3 MB inline\. Publish it with `twin models publish <dir>`/);
    expect(() => parsePackage(new TextEncoder().encode('{'), new Uint8Array(1), 'x')).toThrow('manifest.json is not valid JSON');
    expect(() => parsePackage(new TextEncoder().encode('{"name":"a"}'), new Uint8Array(1), 'x')).toThrow(/no name and version/);
    await expect(gunzip(new Blob([new Uint8Array([1, 2, 3, 4])]).stream())).rejects.toThrow('the file is not a gzip archive (.tgz)');
    expect(() => readTar(new Uint8Array(1024).fill(65))).toThrow(PackageFileError);
  });

  it('never throws anything but PackageFileError on arbitrary bytes, and never reads past the archive', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        try {
          for (const data of readTar(bytes).values()) if (data.byteOffset + data.length > bytes.length) return false;
          return true;
        } catch (error) {
          return error instanceof PackageFileError;
        }
      }),
    );
  });
});

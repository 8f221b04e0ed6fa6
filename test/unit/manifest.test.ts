import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError, ModelInvalidError } from '../../functions/core/errors.js';
import {
  describeZodIssues,
  modelManifestSchema,
  parseManifestText,
  sha256Hex,
  verifyPackage,
  type ModelManifest,
} from '../../functions/core/manifest.js';

const packageUrl = new URL('../../models/reactor-yield/1.0.0/', import.meta.url);
const manifestText = readFileSync(new URL('manifest.json', packageUrl), 'utf8');
const modelBytes = new Uint8Array(readFileSync(new URL('model.onnx', packageUrl)));
const ref = 'reactor-yield@1.0.0';

/** A deep copy of the committed manifest, changed by `edit`. */
function manifestWith(edit: (m: any) => void): unknown {
  const copy = JSON.parse(manifestText) as Record<string, unknown>;
  edit(copy);
  return copy;
}

/** The dotted paths of the issues a manifest fails with. */
function issuePaths(manifest: unknown): string[] {
  const parsed = modelManifestSchema.safeParse(manifest);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => i.path.join('.'));
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('model manifest schema', () => {
  it('accepts the committed reference manifest', () => {
    // Prepare
    const json = JSON.parse(manifestText) as unknown;

    // Act
    const parsed = modelManifestSchema.safeParse(json);

    // Assess
    expect(parsed.success).toBe(true);
    expect(parsed.data?.features.map((f) => f.name)).toEqual(['temp', 'pressure', 'flow']);
  });

  it('accepts a single-output model with a conformal interval and a scaler of the right length', () => {
    const manifest = manifestWith((m) => {
      m.output = { kind: 'single' };
      m.interval = { method: 'conformal', level: 0.9, halfWidth: 1.5 };
      m.scaler = { kind: 'standard', mean: [350, 5, 100], scale: [30, 2, 25] };
    });
    expect(issuePaths(manifest)).toEqual([]);
  });

  it('accepts a model without an interval and a pre-release version', () => {
    const manifest = manifestWith((m) => {
      delete m.interval;
      m.version = '2.0.0-rc.1';
    });
    expect(issuePaths(manifest)).toEqual([]);
  });

  // [case, edit, the path the issue must name, a fragment of its message]
  const broken: [string, (m: any) => void, string, RegExp][] = [
    ['semver without patch', (m) => (m.version = '1.0'), 'version', /semantic version/],
    ['semver with a leading zero', (m) => (m.version = '01.0.0'), 'version', /semantic version/],
    ['semver with a v prefix', (m) => (m.version = 'v1.0.0'), 'version', /semantic version/],
    ['upper-case model name', (m) => (m.name = 'Reactor-Yield'), 'name', /lower-case/],
    ['schemaVersion 2', (m) => (m.schemaVersion = 2), 'schemaVersion', /./],
    ['created not an ISO date', (m) => (m.created = '25/11/2026'), 'created', /./],
    ['duplicate feature', (m) => (m.features[1].name = 'temp'), 'features.1.name', /duplicate feature temp/],
    ['feature min equal to max', (m) => (m.features[0].max = m.features[0].min), 'features.0.max', /min must be below max/],
    ['feature min above max', (m) => (m.features[2].min = 200), 'features.2.max', /min must be below max/],
    ['feature name not an identifier', (m) => (m.features[0].name = '1temp'), 'features.0.name', /letter or _/],
    ['feature range not numeric', (m) => (m.features[1].min = '1'), 'features.1.min', /./],
    ['no features', (m) => (m.features = []), 'features', /./],
    ['sha256 in upper case', (m) => (m.sha256 = m.sha256.toUpperCase()), 'sha256', /lower-case hex SHA-256/],
    ['sha256 of 63 characters', (m) => (m.sha256 = m.sha256.slice(1)), 'sha256', /lower-case hex SHA-256/],
    ['sha256 missing', (m) => delete m.sha256, 'sha256', /./],
    [
      'ensemble-percentile interval with a single output',
      (m) => (m.output = { kind: 'single' }),
      'interval.method',
      /ensemble-percentile needs output kind ensemble/,
    ],
    ['interval lower not below upper', (m) => (m.interval.lower = 95), 'interval.upper', /upper must be above lower/],
    ['interval percentile above 100', (m) => (m.interval.upper = 101), 'interval.upper', /./],
    ['ensemble of one member', (m) => (m.output.members = 1), 'output.members', /./],
    ['unknown output kind', (m) => (m.output = { kind: 'multi' }), 'output.kind', /./],
    ['conformal level of 1', (m) => (m.interval = { method: 'conformal', level: 1, halfWidth: 1 }), 'interval.level', /./],
    [
      'scaler shorter than the features',
      (m) => (m.scaler = { kind: 'standard', mean: [350, 5], scale: [30, 2] }),
      'scaler',
      /one entry per feature/,
    ],
    [
      'scaler scale shorter than its mean',
      (m) => (m.scaler = { kind: 'standard', mean: [350, 5, 100], scale: [30, 2] }),
      'scaler',
      /one entry per feature/,
    ],
    [
      'scaler scale of 0',
      (m) => (m.scaler = { kind: 'standard', mean: [350, 5, 100], scale: [30, 0, 25] }),
      'scaler.scale.1',
      /scale must not be 0/,
    ],
    ['alerts min not below max', (m) => (m.alerts = { min: 95, max: 70 }), 'alerts.max', /min must be below max/],
    ['onnx input name empty', (m) => (m.onnx.input = ''), 'onnx.input', /./],
    ['target unit too long', (m) => (m.target.unit = 'x'.repeat(33)), 'target.unit', /./],
  ];

  it.each(broken)('rejects %s, naming the path', (_case, edit, path, message) => {
    // Prepare
    const manifest = manifestWith(edit);

    // Act
    const parsed = modelManifestSchema.safeParse(manifest);

    // Assess
    expect(parsed.success).toBe(false);
    const issue = parsed.error!.issues.find((i) => i.path.join('.') === path);
    expect(issue, `issues: ${describeZodIssues(parsed.error!)}`).toBeDefined();
    expect(issue!.message).toMatch(message);
    expect(describeZodIssues(parsed.error!)).toContain(`${path}: `);
  });

  it.each(broken)('verifyPackage rejects %s with a ModelInvalidError naming the package and the path', (_case, edit, path) => {
    const error = thrown(() => verifyPackage(ref, manifestWith(edit), modelBytes));
    expect(error).toBeInstanceOf(ModelInvalidError);
    const app = error as AppError;
    expect(app.code).toBe('MODEL_INVALID');
    expect(app.status).toBe(422);
    expect(app.message).toContain(`Model package ${ref} is invalid`);
    expect(app.message).toContain('manifest.json is invalid');
    expect(app.message).toContain(`${path}: `);
  });

  it('names the root when the manifest is not an object', () => {
    const parsed = modelManifestSchema.safeParse([]);
    expect(parsed.success).toBe(false);
    expect(describeZodIssues(parsed.error!)).toMatch(/^\(root\): /);
  });
});

describe('verifyPackage', () => {
  it('returns the parsed manifest when model.onnx matches its digest', () => {
    const manifest: ModelManifest = verifyPackage(ref, JSON.parse(manifestText), modelBytes);
    expect(manifest.sha256).toBe(sha256Hex(modelBytes));
    expect(manifest.name).toBe('reactor-yield');
  });

  it('rejects a model.onnx whose digest does not match, naming the package and both digests', () => {
    // Prepare: one flipped bit
    const tampered = modelBytes.slice();
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    const expected = (JSON.parse(manifestText) as { sha256: string }).sha256;

    // Act
    const error = thrown(() => verifyPackage(ref, JSON.parse(manifestText), tampered));

    // Assess
    expect(error).toBeInstanceOf(ModelInvalidError);
    const message = (error as Error).message;
    expect(message).toContain(ref);
    expect(message).toContain('digest mismatch');
    expect(message).toContain(expected);
    expect(message).toContain(sha256Hex(tampered));
  });

  it('rejects an empty model.onnx as a digest mismatch', () => {
    const error = thrown(() => verifyPackage(ref, JSON.parse(manifestText), new Uint8Array()));
    expect((error as Error).message).toMatch(/reactor-yield@1\.0\.0.*digest mismatch/);
  });

  it('checks the schema before the digest', () => {
    const error = thrown(() => verifyPackage(ref, manifestWith((m) => (m.version = 'x')), new Uint8Array()));
    expect((error as Error).message).toContain('manifest.json is invalid');
    expect((error as Error).message).not.toContain('digest mismatch');
  });

  it('sha256Hex is the lower-case hex SHA-256 (golden vector)', () => {
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('parseManifestText', () => {
  it('parses JSON text', () => {
    expect(parseManifestText(ref, manifestText)).toEqual(JSON.parse(manifestText));
  });

  it.each(['{', '', 'not json', '{"name": "x",}'])('rejects %j as invalid JSON, naming the package', (text) => {
    const error = thrown(() => parseManifestText('my-model@2.0.0 (s3://bucket/models/my-model/2.0.0/)', text));
    expect(error).toBeInstanceOf(ModelInvalidError);
    expect((error as AppError).code).toBe('MODEL_INVALID');
    expect((error as Error).message).toContain('my-model@2.0.0 (s3://bucket/models/my-model/2.0.0/)');
    expect((error as Error).message).toContain('manifest.json is not valid JSON');
    expect((error as Error).cause).toBeInstanceOf(SyntaxError);
  });
});

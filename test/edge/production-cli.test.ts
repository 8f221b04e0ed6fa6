import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../models/tools/package-model.js';
import { columnModel, columnModelName, columnRows, writeColumnInputs, type ColumnModel } from '../support/byom.js';
import { baseEnv, repoRoot } from './support.js';

/**
 * `twin models package` from a production-only install: `npm ci --omit=dev` of this checkout's lockfile
 * (as the image's deps stage and docs/edge.md install it) plus the built CLI (bin/twin.mjs and
 * client/dist, `npm run build:client`; npm test's pretest runs it). No dev dependency (tsx, esbuild,
 * TypeScript) is there: the packager's ONNX protobuf code, onnxruntime and the CSV parser are runtime
 * dependencies. The package it writes is the one the packager builds in-process from the same inputs.
 */

const exec = promisify(execFile);
let app: string;
let work: string;
let column: ColumnModel;

/** Calibration rows as a spreadsheet exports them: a BOM, CRLF, and a quoted note with a comma and a newline. */
function calibrationCsv(model: ColumnModel): string {
  const rows = columnRows(40, 77);
  const header = ['note', ...Object.keys(rows[0]!), 'purity'];
  const lines = rows.map((row, i) => [`"batch ${i}, shift ""B""\nchecked"`, ...Object.values(row), (model.mean(row) + (i % 2 ? 0.001 : -0.001)).toFixed(6)].join(','));
  return `\uFEFF${[header.join(','), ...lines].join('\r\n')}\r\n`;
}

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'twinserve-prod-cli-'));
  work = mkdtempSync(join(tmpdir(), 'twinserve-prod-cli-work-'));
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(repoRoot, file), join(app, file));
  await exec('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], {
    cwd: app,
    env: { ...baseEnv(), ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
    timeout: 240_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const built = join(repoRoot, 'client', 'dist', 'cli', 'twin.js');
  if (!existsSync(built)) throw new Error('client/dist is not built: run npm run build:client (npm test runs it first)');
  cpSync(join(repoRoot, 'bin', 'twin.mjs'), join(app, 'bin', 'twin.mjs'));
  cpSync(join(repoRoot, 'client', 'dist'), join(app, 'client', 'dist'), { recursive: true });
  column = columnModel();
}, 300_000);

afterAll(() => {
  for (const dir of [app, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('twin models package from a production-only install', () => {
  it('has the packager’s runtime dependencies and no dev tool', () => {
    for (const name of ['onnx-proto', 'onnxruntime-node', 'csv-parse', 'protobufjs']) expect(existsSync(join(app, 'node_modules', name, 'package.json')), name).toBe(true);
    for (const name of ['tsx', 'esbuild', 'typescript', 'vitest']) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
  });

  it('packages the skl2onnx-layout forest with a spreadsheet CSV exactly as the packager does in-process', async () => {
    // Prepare
    const inputs = await writeColumnInputs(join(work, 'export'), column);
    const csv = calibrationCsv(column);
    const calibration = join(work, 'export', 'calibration.csv');
    writeFileSync(calibration, csv);
    const out = join(work, 'packages', columnModelName, '1.0.0');

    // Act
    const { stdout } = await exec(
      process.execPath,
      [join(app, 'bin', 'twin.mjs'), 'models', 'package', '--onnx', inputs.onnx, '--spec', inputs.spec, '--calibration', calibration, '--out', out, '--created', '2026-12-01', '--json'], // date-inert: a package's created date
      { cwd: work, env: { ...baseEnv(), XDG_CONFIG_HOME: join(work, 'config') }, timeout: 120_000 },
    );
    const expected = await buildPackage({ onnx: column.onnx, spec: column.spec, calibration: csv, created: '2026-12-01' }); // date-inert: a package's created date

    // Assess
    expect(JSON.parse(stdout)).toMatchObject({ name: columnModelName, version: '1.0.0', form: 'expanded', sha256: expected.manifest.sha256 });
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(expected.manifestText);
    expect(new Uint8Array(readFileSync(join(out, 'model.onnx')))).toEqual(expected.model);
    expect(expected.manifest.calibration?.rows).toBe(40);
  }, 180_000);
});

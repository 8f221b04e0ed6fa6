import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * onnxruntime 1.30 on Linux runs Microsoft's 1DS telemetry unless ORT_DISABLE_TELEMETRY=1 is set before its
 * first session: an uploader thread, a device id and an event database under ~/.cache/Microsoft, and an empty
 * /tmp/mat-debug-<pid>.log. Twinserve's model loader turns it off itself (functions/core/twin/no-telemetry.ts),
 * whatever the environment says. Each case runs a fresh node process with its own HOME, no
 * ORT_DISABLE_TELEMETRY and no CI variable in its environment, loads the reference model and predicts once.
 */

const homes: string[] = [];
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

/** Variables onnxruntime 1.30 reads to switch its telemetry off in CI (`strings libonnxruntime.so.1`). */
const ciVariables = ['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'JENKINS_URL', 'TRAVIS', 'CIRCLECI', 'BUILDKITE', 'TEAMCITY_VERSION'];

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const referenceDir = join(repoRoot, 'models', 'reactor-yield', '1.0.0');

/**
 * onnxruntime's `/tmp/mat-debug-<pid>.log` files, each with what identifies its version on disk. Pids are reused
 * and other processes on a shared machine leave such files behind, so a child's file counts only if it is new
 * or changed while the child ran (no clock involved: the year-ahead run moves the clock, not file times).
 */
function matDebugFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync('/tmp')) {
    if (!/^mat-debug-\d+\.log$/.test(name)) continue;
    const stat = statSync(join('/tmp', name), { throwIfNoEntry: false });
    if (stat) files.set(name, `${stat.ino}:${stat.mtimeMs}:${stat.size}`);
  }
  return files;
}

/** Loads and runs the reference model in a child process; what it left on disk. */
function loadAndPredict(script: string): { pid: number; home: string; output: string; wroteTmpFile: boolean } {
  const before = matDebugFiles();
  const home = mkdtempSync(join(tmpdir(), 'twinserve-ort-home-'));
  homes.push(home);
  // As on a plant engineer's machine: onnxruntime also stays quiet by itself when it sees a CI system's
  // variable (these are the names its library checks), so the child gets none of them.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'ORT_DISABLE_TELEMETRY' && !ciVariables.includes(k)));
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, env: { ...env, HOME: home }, encoding: 'utf8', timeout: 60_000 });
  expect(child.status, child.stderr).toBe(0);
  const pid = Number(/^pid (\d+)$/m.exec(child.stdout)?.[1]);
  expect(pid).toBeGreaterThan(0);
  const name = `mat-debug-${pid}.log`;
  const after = matDebugFiles().get(name);
  return { pid, home, output: child.stdout, wroteTmpFile: after !== undefined && after !== before.get(name) };
}

describe("onnxruntime's telemetry", () => {
  it('is off in every process that loads a model through TwinModel: no event database, no device id, no /tmp file', () => {
    // Act: the loader every function, the local twin and the edge twin use.
    const run = loadAndPredict(`
      import { readFileSync } from 'node:fs';
      import { TwinModel } from './functions/core/twin/model.ts';
      const manifest = JSON.parse(readFileSync('${referenceDir}/manifest.json', 'utf8'));
      const model = await TwinModel.load({ manifest, bytes: new Uint8Array(readFileSync('${referenceDir}/model.onnx')) });
      const [row] = await model.infer(new Float32Array([360, 6, 100]), 1);
      console.log('prediction', row.prediction);
      console.log('pid', process.pid);
    `);

    // Assess
    expect(run.output).toMatch(/^prediction \d/m);
    expect(existsSync(join(run.home, '.cache', 'Microsoft'))).toBe(false);
    expect(run.wroteTmpFile).toBe(false);
  });

  it('(control) is on in a process that creates a session without it: what the loader prevents', () => {
    // Act: onnxruntime-node alone, as shipped (1.30.0, pinned in package.json).
    const run = loadAndPredict(`
      import * as ort from 'onnxruntime-node';
      const session = await ort.InferenceSession.create('${referenceDir}/model.onnx');
      await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array([360, 6, 100]), [1, 3]) });
      console.log('pid', process.pid);
    `);

    // Assess
    expect(existsSync(join(run.home, '.cache', 'Microsoft', 'DeveloperTools', '.onnxruntime'))).toBe(true);
    expect(run.wroteTmpFile).toBe(true);
    rmSync(`/tmp/mat-debug-${run.pid}.log`, { force: true });
  });
});

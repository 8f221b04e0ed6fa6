import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, callJson, edgeAdminPassword, freePort, killChildren, loginAs, referencePackageDir, repoRoot, spawnTwin, validRow, type ChildTwin } from './support.js';

/**
 * `twin edge` runs the compiled edge twin (dist/local/start.mjs under plain node, as `npm start` and the
 * container do), not the TypeScript sources. Needs `npm run build` (npm test's pretest runs it).
 */

let dataDir: string;
let twin: ChildTwin;

/** The command lines of a process's children (/proc/<pid>/task/<tid>/children). */
function childCommands(pid: number): string[][] {
  return readdirSync(`/proc/${pid}/task`)
    .flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean))
    .map((child) => readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean));
}

beforeAll(async () => {
  for (const built of ['dist/local/start.mjs', 'client/dist/cli/twin.js']) {
    if (!existsSync(join(repoRoot, built))) throw new Error(`${built} is not built: run npm run build (npm test runs it first)`);
  }
  dataDir = mkdtempSync(join(tmpdir(), 'twinserve-twin-edge-'));
  const env = { ...baseEnv(), TWIN_DATA_DIR: join(dataDir, 'data'), PORT: String(await freePort()), TWIN_ADMIN_PASSWORD: edgeAdminPassword, TWIN_ACCESS_LOG: 'off' };
  twin = await spawnTwin([process.execPath, join(repoRoot, 'bin', 'twin.mjs'), 'edge', '--model', referencePackageDir], { cwd: dataDir, env, timeoutMs: 90_000 });
}, 120_000);

afterAll(async () => {
  await killChildren();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('twin edge', () => {
  it('runs dist/local/start.mjs under plain node, without tsx', () => {
    const [command] = childCommands(twin.child.pid!);
    expect(command?.[1]).toBe(join(repoRoot, 'dist', 'local', 'start.mjs'));
    expect(command).toEqual(expect.arrayContaining(['--edge', '--model', referencePackageDir]));
    expect(command!.join(' ')).not.toMatch(/tsx|\.ts\b/);
  });

  it('serves the package and stops on SIGTERM with exit code 0', async () => {
    const token = await loginAs(twin.url);
    const predict = await callJson(twin.url, 'POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(predict.status).toBe(200);
    expect(predict.json.model).toEqual({ name: 'reactor-yield', version: '1.0.0' });
    expect(await twin.stop()).toBe(0);
  });
});

import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';
import { killChildren, spawnTwin, type ChildTwin } from '../edge/support.js';

/**
 * Issue 13, finding 1 (last part): `npm start` keeps its signing key and data outside the working directory
 * by default (~/.local/share/twinserve), private to the user (0700, key files 0600), and refuses to start on
 * a data dir other users can reach. The twin runs as `npm start` does (infra/local/start.ts), with HOME
 * pointing at a fresh temp dir and no TWIN_DATA_DIR or XDG_DATA_HOME.
 */

let home: string;
let twin: ChildTwin | undefined;
const expected = () => join(home, '.local', 'share', 'twinserve');

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, PORT: '0', TWIN_ADMIN_PASSWORD: 'data-dir-test-password', TWIN_ACCESS_LOG: 'off', POWERTOOLS_LOG_LEVEL: 'ERROR', ...extra };
}

const start = [process.execPath, '--import', 'tsx', 'infra/local/start.ts'];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'twinserve-home-'));
  twin = await spawnTwin(start, { cwd: repoRoot, env: env(), timeoutMs: 90_000 });
}, 120_000);

afterAll(async () => {
  await twin?.stop().catch(() => undefined);
  await killChildren();
  await rm(home, { recursive: true, force: true });
});

describe('npm start with no TWIN_DATA_DIR', () => {
  it('prints and uses ~/.local/share/twinserve, outside the working directory', () => {
    expect(twin!.output()).toContain(`data:      ${expected()}\n`);
    expect(relative(repoRoot, expected()).startsWith('..')).toBe(true);
  });

  it('creates the data dir 0700 and its key files 0600', async () => {
    expect((await stat(expected())).mode & 0o777).toBe(0o700);
    for (const name of ['signing-keys.json', 'store-credentials.json']) expect((await stat(join(expected(), name))).mode & 0o777, name).toBe(0o600);
  });
});

describe('refusals', () => {
  it('refuses to start on a data dir other users can read, with the fix in the message', async () => {
    const code = await twin!.stop();
    twin = undefined;
    expect(code).toBe(0);
    await chmod(expected(), 0o755);
    await expect(spawnTwin(start, { cwd: repoRoot, env: env(), timeoutMs: 60_000 })).rejects.toThrow(
      new RegExp(`exited \\(1\\)[^]*is accessible to other users \\(mode 0755\\)[^]*Run: chmod 700 ${expected()}`),
    );
    await chmod(expected(), 0o700);
  }, 90_000);

  it('refuses a TWIN_DATA_DIR inside the working directory (the old `.data` default)', async () => {
    await expect(spawnTwin(start, { cwd: repoRoot, env: env({ TWIN_DATA_DIR: '.data-refused-by-test' }), timeoutMs: 60_000 })).rejects.toThrow(/exited \(1\)[^]*inside the working directory/);
    await expect(stat(join(repoRoot, '.data-refused-by-test'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 90_000);

  it('stops with the move command when the old default ./.data holds data and the new default does not exist yet', async () => {
    const work = join(home, 'checkout');
    await mkdir(join(work, '.data'), { recursive: true });
    await writeFile(join(work, '.data', 'signing-keys.json'), '{}', { mode: 0o600 });
    const xdg = join(home, 'xdg');
    // Run from another working directory (as `npm start` in an old checkout): loader and script by absolute path.
    const fromWork = [process.execPath, '--import', pathToFileURL(join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(repoRoot, 'infra', 'local', 'start.ts')];
    await expect(spawnTwin(fromWork, { cwd: work, env: env({ XDG_DATA_HOME: xdg }), timeoutMs: 60_000 })).rejects.toThrow(
      new RegExp(`exited \\(2\\)[^]*mv \\.data ${join(xdg, 'twinserve')}`),
    );
    await expect(stat(join(xdg, 'twinserve'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 90_000);
});

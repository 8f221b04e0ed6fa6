import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPassword, startTestTwin, validRow, type TestTwin } from '../support/twin.js';

/**
 * The embedded stores run in their own process (infra/local/stores.ts): the local twin names both processes,
 * serves through them, and leaves none behind, whether it is stopped or its process dies.
 */

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  for (let waited = 0; waited < withinMs; waited += 50) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !alive(pid);
}

describe('the embedded stores process', () => {
  let twin: TestTwin;

  beforeAll(async () => {
    twin = await startTestTwin();
  });

  afterAll(async () => {
    await twin?.stop();
  });

  it('the twin names this process and the stores process, and serves through the stores', async () => {
    // Prepare
    const [self, stores] = twin.twin.pids;

    // Act
    const login = await fetch(`${twin.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: adminPassword }),
    });
    const { token } = (await login.json()) as { token: string };
    const predict = await fetch(`${twin.url}/api/v1/twin/predict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(validRow),
    });

    // Assess
    expect(self).toBe(process.pid);
    expect(stores).not.toBe(process.pid);
    expect(alive(stores!)).toBe(true);
    expect(predict.status).toBe(200);
  });

  it('stop ends the stores process', async () => {
    // Prepare
    const other = await startTestTwin();
    const stores = other.twin.pids[1]!;

    // Act
    await other.stop();

    // Assess
    expect(await gone(stores, 5_000)).toBe(true);
  });

  it('a twin process that dies without stopping takes its stores process with it', async () => {
    // Prepare: a separate node process starts the stores, prints their pid, and is then killed.
    const dataDir = await mkdtemp(join(tmpdir(), 'twinserve-stores-'));
    const script = `const { startEmbeddedStores } = await import(${JSON.stringify(new URL('../../infra/local/stores.ts', import.meta.url).href)});
      const stores = await startEmbeddedStores(${JSON.stringify(dataDir)}, { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' });
      process.stdout.write(stores.pid + '\\n');
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const storesPid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: parent.stdout! }).once('line', (line) => resolve(Number(line)));
      parent.once('exit', (code) => reject(new Error(`parent exited ${code}`)));
    });
    expect(alive(storesPid)).toBe(true);

    // Act
    parent.kill('SIGKILL');

    // Assess
    try {
      expect(await gone(storesPid, 10_000)).toBe(true);
    } finally {
      if (alive(storesPid)) process.kill(storesPid, 'SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

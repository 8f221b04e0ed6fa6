import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';

/**
 * `npm run test:future` runs, a year ahead, the test files test/time/date-pinned-files.mjs lists: those that
 * pin a date themselves or through a test-side module they import.
 */
const exec = promisify(execFile);

async function listed(): Promise<string[]> {
  const { stdout } = await exec(process.execPath, [join(repoRoot, 'test', 'time', 'date-pinned-files.mjs')], { cwd: repoRoot });
  return stdout.trim().split('\n');
}

describe('date-pinned test files', () => {
  it('lists the test that once held a date bomb, and tests that pin dates directly or through test support', async () => {
    // Act
    const files = await listed();

    // Assert: edge-client pins dates itself; models.happy only through test/support/models.ts.
    expect(files).toEqual(expect.arrayContaining(['test/edge/edge-client.test.ts', 'test/stores/prediction-log.test.ts', 'test/api/audit.test.ts']));
    expect(await readFile(join(repoRoot, 'test/api/models.happy.test.ts'), 'utf8')).not.toMatch(/(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)/);
    expect(files).toContain('test/api/models.happy.test.ts');
  });

  it('leaves out a test that pins no date, and lists only test files', async () => {
    // Act
    const files = await listed();

    // Assert
    expect(files).not.toContain('test/unit/passwords.test.ts');
    expect(files.every((f) => f.startsWith('test/') && f.endsWith('.test.ts'))).toBe(true);
  });
});

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
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

  it('knows every dated fixture a test may read by path: only the reference model, which every twin seeds', async () => {
    // Prepare: the data files under test/, examples/ and models/ (code under test/ is followed by its imports).
    const datePattern = /(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)|Date\.UTC\(|new Date\(\s*\d/;
    const files = (
      await Promise.all(['test', 'examples', 'models'].map(async (dir) => (await readdir(join(repoRoot, dir), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))))
    )
      .flat()
      .filter((f) => !(f.startsWith(join(repoRoot, 'test')) && /\.(ts|mjs)$/.test(f)));

    // Act
    const dated: string[] = [];
    for (const file of files) if (datePattern.test(await readFile(file, 'latin1'))) dated.push(file.slice(repoRoot.length + 1));

    // Assert: a new one needs the rule in test/time/date-pinned-files.mjs extended to the tests that read it.
    expect(dated.sort()).toEqual(['models/README.md', 'models/reactor-yield/1.0.0/manifest.json', 'models/tools/reference.ts']);
  });
});

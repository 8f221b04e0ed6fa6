import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';

/**
 * `npm run test:future` runs, a year ahead, the test files test/time/date-pinned-files.mjs lists: those that
 * pin a date themselves or through a test-side module they import, a model package's created date marked
 * `date-inert` aside.
 */
const exec = promisify(execFile);
const datePattern = /(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)|Date\.UTC\(|new Date\(\s*\d/;

async function listed(root = repoRoot): Promise<string[]> {
  const { stdout } = await exec(process.execPath, [join(repoRoot, 'test', 'time', 'date-pinned-files.mjs'), ...(root === repoRoot ? [] : [root])], { cwd: repoRoot });
  return stdout.trim().split('\n').filter(Boolean);
}

async function testSources(): Promise<string[]> {
  const entries = await readdir(join(repoRoot, 'test'), { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name)).map((e) => join(e.parentPath, e.name));
}

describe('date-pinned test files', () => {
  it('lists the test that once held a date bomb, and tests that pin dates', async () => {
    // Act
    const files = await listed();

    // Assert
    expect(files).toEqual(expect.arrayContaining(['test/edge/edge-client.test.ts', 'test/stores/prediction-log.test.ts', 'test/api/audit.test.ts']));
  });

  it('lists a new test with a date of its own or through any import of test support; only a marked package date does not count', async () => {
    // Prepare: a scratch tree shaped like test/.
    const root = await mkdtemp(join(tmpdir(), 'date-pinned-'));
    const files: Record<string, string> = {
      'test/support/dated.ts': "export const day = '2030-01-02';\n",
      'test/support/package.ts': "export const manifest = {\n  version: '1.0.0',\n  created: '2030-01-02', // date-inert: a package's created date\n};\n",
      'test/support/indirect.ts': "export { day } from './dated.js';\n",
      'test/x/direct.test.ts': 'const at = Date.UTC(2030, 0, 1);\n',
      'test/x/multi-line.test.ts': 'const at = new Date(\n  1_900_000_000_000,\n);\n',
      'test/x/via-support.test.ts': "import { day } from '../support/dated.js';\n",
      'test/x/via-two-modules.test.ts': "import { day } from '../support/indirect.js';\n",
      'test/x/side-effect.test.ts': "import '../support/dated.js';\n",
      'test/x/dynamic.test.ts': "const { day } = await import('../support/dated.js');\n",
      'test/x/package-only.test.ts': "import { manifest } from '../support/package.js';\nconst args = ['--created', '2030-01-02']; // date-inert: a package's created date\n",
      'test/x/package-and-date.test.ts': "import { manifest } from '../support/package.js';\nconst at = '2030-01-02T00:00:00Z';\n",
      'test/x/none.test.ts': 'const at = Date.now();\n',
    };
    try {
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(root, path)), { recursive: true });
        await writeFile(join(root, path), text);
      }

      // Act
      const found = await listed(root);

      // Assert
      expect(found).toEqual(
        ['direct', 'dynamic', 'multi-line', 'package-and-date', 'side-effect', 'via-support', 'via-two-modules'].map((name) => `test/x/${name}.test.ts`),
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('marks as inert only a model package’s created date, alone on its line', async () => {
    // Prepare
    const marked: string[] = [];
    for (const file of await testSources()) {
      if (/date-pinned-files\.(test\.ts|mjs)$/.test(file)) continue; // the rule itself, and this test's scratch files
      for (const line of (await readFile(file, 'utf8')).split('\n')) if (line.includes('date-inert')) marked.push(line);
    }

    // Assert: `created: '<date>'` in a manifest or a packaging call, or the CLI's `--created <date>`; one date.
    expect(marked.length).toBeGreaterThan(0);
    for (const line of marked) {
      expect(line).toMatch(/(?:\bcreated:\s*|'--created',\s*)'20\d\d-[01]\d-[0-3]\d'/);
      expect(line.match(new RegExp(datePattern.source, 'g')), line).toHaveLength(1);
    }
  });

  it('runs a year ahead what reads a package’s created date: the dated reference model in every twin, and packaging', async () => {
    // Prepare
    const manifest = JSON.parse(await readFile(join(repoRoot, 'models/reactor-yield/1.0.0/manifest.json'), 'utf8')) as { created: string };

    // Act
    const files = await listed();

    // Assert: twin.happy asserts the reference model's trained_date; package-model packages with given dates.
    expect(manifest.created).toMatch(/^20\d\d-[01]\d-[0-3]\d$/);
    expect(await readFile(join(repoRoot, 'test/api/twin.happy.test.ts'), 'utf8')).toContain(`trained_date: '${manifest.created}'`);
    expect(files).toEqual(expect.arrayContaining(['test/api/twin.happy.test.ts', 'test/unit/package-model.test.ts']));
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

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { apiTypesPath, generateApiTypes } from '../../client/build/api-types.js';
import { repoRoot } from '../../infra/local/twin.js';

/** The @twinserve/client package: its types follow the contracts, and it packs built JavaScript only. */

const exec = promisify(execFile);

describe('@twinserve/client', () => {
  it('client/api-types.ts is what the contracts generate (run npm run build:client when this fails)', async () => {
    // Act
    const generated = generateApiTypes();

    // Assess
    expect(await readFile(apiTypesPath, 'utf8')).toBe(generated);
    expect(generated).toContain('"POST /api/v1/models/{name}/predict": {');
  }, 60_000);

  it('packs dist/ (ES modules, .d.ts, the twin CLI) and no TypeScript source or runtime dependency', async () => {
    // Act
    const { stdout } = await exec('npm', ['pack', '--dry-run', '--json'], { cwd: join(repoRoot, 'client') });
    const [pack] = JSON.parse(stdout) as { name: string; files: { path: string }[] }[];
    const manifest = JSON.parse(await readFile(join(repoRoot, 'client', 'package.json'), 'utf8')) as Record<string, unknown>;

    // Assess
    const paths = pack!.files.map((f) => f.path);
    expect(pack!.name).toBe('@twinserve/client');
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/sdk.d.ts', 'dist/api-types.d.ts', 'dist/cli/twin.js']));
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    expect(manifest.dependencies).toBeUndefined();
    const declarations = await readFile(join(repoRoot, 'client', 'dist', 'sdk.d.ts'), 'utf8');
    expect(declarations).not.toMatch(/from ['"](zod|\.\.\/functions)/);
    const sdk = await readFile(join(repoRoot, 'client', 'dist', 'index.js'), 'utf8');
    expect(sdk).not.toMatch(/^import .* from ['"]/m);
  }, 60_000);
});

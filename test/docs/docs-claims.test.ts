import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { roles, scopesForRole } from '../../functions/core/auth/roles.js';
import { repoRoot } from '../../infra/local/twin.js';

/** Sentences of docs/ that name facts the code decides: each checked against the code. */

const read = (path: string) => readFile(join(repoRoot, path), 'utf8');

describe('docs/security.md', () => {
  it('lists every role with exactly the scopes roles.ts grants', async () => {
    const text = await read('docs/security.md');
    for (const role of roles) {
      const row = new RegExp(`^\\| ${role} \\| \`([^\`]+)\``, 'm').exec(text);
      expect(row, `a table row for ${role}`).not.toBeNull();
      expect(row![1]!.split(/\s+/).sort(), role).toEqual([...scopesForRole(role)].sort());
    }
  });
});

describe('docs/deploy.md', () => {
  it('names every stack one environment deploys, and says how many', async () => {
    const text = await read('docs/deploy.md');
    const platform = await read('infra/platform.ts');
    const stacks = [...platform.matchAll(/new \w+Stack\(app, `\$\{prefix\}-(\w+)`/g)].map((m) => m[1]!);
    expect(stacks.length).toBeGreaterThan(0);
    for (const stack of stacks) expect(text).toContain(`Twinserve-<env>-${stack}`);
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven'];
    expect(text).toMatch(new RegExp(`One environment is ${words[stacks.length]} CloudFormation stacks`));
  });
});

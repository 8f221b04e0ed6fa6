import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';

/**
 * Which code may import which (docs/architecture.md): the functions
 * import nothing from infra/ (the route table and the API contracts are theirs: functions/routes.ts,
 * functions/contracts.ts), and the domain core imports no Lambda, middy, CDK, AWS SDK or HTTP server, and
 * nothing outside functions/core. Read from the sources' import specifiers, as TypeScript parses them
 * (static and type-only imports, `export ... from`, `import()` and `require()`), relative ones resolved.
 */

const codeFile = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Every code file below `dir` (relative to the repo), in a stable order. */
function codeFilesUnder(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && codeFile.test(e.name))
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

interface Import {
  specifier: string;
  /** For a relative or absolute specifier, the file or folder it names, relative to the repo (`infra/routes.js`); else undefined. */
  target?: string;
}

/** The import specifiers of one source file (`file` relative to the repo, for resolving relative ones). */
function importsOf(file: string, source: string): Import[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles.map(({ fileName: specifier }) => {
    if (!specifier.startsWith('.') && !isAbsolute(specifier)) return { specifier };
    const target = relative(repoRoot, resolve(repoRoot, dirname(file), specifier)).split(sep).join('/');
    return { specifier, target };
  });
}

const isUnder = (target: string | undefined, dir: string) => target !== undefined && (target === dir || target.startsWith(`${dir}/`));

/** `file: specifier` for each import of the files that breaks `rule`. */
function violations(files: string[], rule: (i: Import) => boolean): string[] {
  return files.flatMap((file) =>
    importsOf(file, readFileSync(join(repoRoot, file), 'utf8'))
      .filter(rule)
      .map((i) => `${file}: ${i.specifier}`),
  );
}

const importsInfra = (i: Import) => isUnder(i.target, 'infra');

/** Packages that are an adapter's business, never the domain's. */
const adapterOnly = /^(aws-lambda|@middy\/|aws-cdk-lib|constructs$|@aws-sdk\/|@aws-lambda-powertools\/|node:(http|https|http2|net)$|(http|https|http2|net)$)/;

describe('the scanner', () => {
  it('finds static, type-only, re-exported, dynamic and required imports, and resolves relative ones', () => {
    // Prepare
    const source = [
      "import { routes } from '../infra/routes.js';",
      "import type { FunctionDef } from '../../infra/functions.js';",
      "export { tables } from '../infra/tables.js';",
      "const gateway = await import('../infra/local/gateway.js');",
      "const cdk = require('aws-cdk-lib');",
      "// import { x } from '../infra/comment.js' is a comment, not an import",
      "const text = \"from '../infra/string.js'\";",
      "import { http } from './middleware/http.js';",
    ].join('\n');

    // Act
    const found = importsOf('functions/example.ts', source);

    // Assess: the comment and the string are not imports; `../../infra` from functions/ leaves the repo.
    expect(found).toEqual([
      { specifier: '../infra/routes.js', target: 'infra/routes.js' },
      { specifier: '../../infra/functions.js', target: '../infra/functions.js' },
      { specifier: '../infra/tables.js', target: 'infra/tables.js' },
      { specifier: '../infra/local/gateway.js', target: 'infra/local/gateway.js' },
      { specifier: 'aws-cdk-lib' },
      { specifier: './middleware/http.js', target: 'functions/middleware/http.js' },
    ]);
    expect(found.filter(importsInfra).map((i) => i.specifier)).toEqual(['../infra/routes.js', '../infra/tables.js', '../infra/local/gateway.js']);
    expect(importsOf('functions/middleware/http.ts', "import { routes } from '../../infra/routes.js';").filter(importsInfra)).toHaveLength(1);
    expect(importsOf('functions/x.ts', "import { a } from '../infrastructure/a.js';").filter(importsInfra)).toEqual([]);
  });
});

describe('layering', () => {
  it('functions/ imports nothing from infra/', () => {
    const files = codeFilesUnder('functions');
    // The scan reaches the handlers, the middleware and the core, where the route table is read.
    expect(files).toEqual(expect.arrayContaining(['functions/middleware/http.ts', 'functions/openapi.ts', 'functions/routes.ts', 'functions/core/errors.ts']));
    expect(violations(files, importsInfra)).toEqual([]);
  });

  it('functions/core imports nothing outside functions/core, and no Lambda, middy, CDK, AWS SDK or HTTP server', () => {
    const files = codeFilesUnder('functions/core');
    expect(files.length).toBeGreaterThan(20);
    expect(violations(files, (i) => (i.target === undefined ? adapterOnly.test(i.specifier) : !isUnder(i.target, 'functions/core')))).toEqual([]);
  });
});

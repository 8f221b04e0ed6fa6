import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapStackTrace, withSourceMappedStack } from '../../functions/source-maps.js';

/**
 * The functions run without --enable-source-maps (infra/constructs/twin-function.ts); the logger maps the
 * stacks of logged errors through the bundle's own source map instead (functions/source-maps.ts). A small
 * module bundled and minified as a function is, whose error must come back pointing at its TypeScript line.
 */

let dir: string;
let bundleUrl: string;
let map: SourceMap;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'twinserve-source-maps-'));
  writeFileSync(
    join(dir, 'thrower.ts'),
    ['export function first(n: number): number {', '  return second(n) + 1;', '}', '', 'function second(n: number): number {', "  if (n > 0) throw new Error('deliberate');", '  return n;', '}', ''].join('\n'),
  );
  const outfile = join(dir, 'index.mjs');
  await build({ entryPoints: [join(dir, 'thrower.ts')], outfile, bundle: true, format: 'esm', platform: 'node', minify: true, sourcemap: true, sourcesContent: false, logLevel: 'error' });
  bundleUrl = pathToFileURL(outfile).href;
  map = new SourceMap(JSON.parse(readFileSync(`${outfile}.map`, 'utf8')) as SourceMapPayload);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mapStackTrace', () => {
  it("rewrites the bundle's frames to the TypeScript lines they came from, and leaves other frames alone", () => {
    // Prepare: the error's stack as a plain node process gives it (this test runner maps stacks itself).
    const script = `import(${JSON.stringify(bundleUrl)}).then((m) => { try { m.first(1); } catch (error) { process.stdout.write(error.stack); } });`;
    const { NODE_OPTIONS: _options, ...env } = process.env;
    const stack = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
    expect(stack).toContain(`${bundleUrl}:1:`);

    // Act
    const mapped = mapStackTrace(stack, bundleUrl, map);

    // Assess
    const frames = mapped.split('\n').slice(1, 3);
    expect(frames[0]).toMatch(/thrower\.ts:6:\d+\)?$/);
    expect(frames[1]).toMatch(/thrower\.ts:2:\d+\)?$/);
    expect(mapped).not.toContain(bundleUrl);
    expect(mapped.split('\n')[0]).toBe('Error: deliberate');
    // A frame of another file is kept as it is.
    const other = '    at run (file:///var/task/other.mjs:1:200)';
    expect(mapStackTrace(other, bundleUrl, map)).toBe(other);
  });
});

describe('withSourceMappedStack', () => {
  it('returns the error itself when the code runs from its sources (no bundle map beside it)', () => {
    const error = Object.assign(new Error('as is'), { code: 'E_TEST' });
    expect(withSourceMappedStack(error)).toBe(error);
  });
});

#!/usr/bin/env node
// Lists the test files that pin a date: a date literal (2027-03-01, Date.UTC(…), new Date(<number>)) in the
// test file itself or in a test-side module it imports (transitively). `npm run test:future` runs these with
// the clock a year ahead: a test that pins no date cannot compare a fixed date with "now", so running it again
// a year ahead proves nothing more. Production code's own dates (a fixed date in functions/ or infra/) are
// exercised by the twin tests on this list anyway. So is the one dated fixture a test may read by path
// rather than import, the reference model's manifest (models/reactor-yield/1.0.0): every twin seeds it.
// test/unit/date-pinned-files.test.ts fails when another dated fixture appears under test/, examples/ or
// models/, so that this rule is extended to the tests that read it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const datePattern = /(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)|Date\.UTC\(|new Date\(\s*\d/;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const cache = new Map();
/** Whether `file` or a relative import of it inside test/ pins a date. */
function pinsDate(file, seen = new Set()) {
  if (cache.has(file)) return cache.get(file);
  if (seen.has(file)) return false;
  seen.add(file);
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  let pinned = datePattern.test(text);
  for (const [, spec] of text.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
    if (pinned) break;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    if (target.startsWith(join(root, 'test'))) pinned = pinsDate(target, seen);
  }
  cache.set(file, pinned);
  return pinned;
}

const files = walk(join(root, 'test')).filter((f) => f.endsWith('.test.ts') && pinsDate(f));
process.stdout.write(files.map((f) => relative(root, f)).join('\n') + '\n');

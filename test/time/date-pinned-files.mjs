#!/usr/bin/env node
// Lists the test files that pin a date: a date literal (2027-03-01, Date.UTC(…), new Date(<number>)) in the
// test file itself or in a test-side module it imports (transitively). `npm run test:future` runs these with
// the clock a year ahead: a test that pins no date cannot compare a fixed date with "now", so running it again
// a year ahead proves nothing more. Production code's own dates (a fixed date in functions/ or infra/) are
// exercised by the twin tests on this list anyway. So is the one dated fixture a test may read by path
// rather than import, the reference model's manifest (models/reactor-yield/1.0.0): every twin seeds it.
// test/unit/date-pinned-files.test.ts fails when another dated fixture appears under test/, examples/ or
// models/, so that this rule is extended to the tests that read it.
//
// One kind of date does not count: a model package's `created` date, on a line marked `date-inert`. It is
// the date the reference model carries too (models/reactor-yield/1.0.0, created 2026-11-25): the code that
// reads it (checked as YYYY-MM-DD, shown as trained_date and in version lists) is what every twin runs on
// the reference model, and the listed twin tests run that a year ahead (twin.happy.test.ts asserts its
// trained_date); packaging with a given date is test/unit/package-model.test.ts, listed by its own dates. A
// test package's date adds no comparison with the clock, so a test whose only dates are those is not run
// again: the models' fixtures (test/support/models.ts) would otherwise list every twin test there is.
// test/unit/date-pinned-files.test.ts checks that every marked line is such a date and nothing else.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository root; test/unit/date-pinned-files.test.ts passes a scratch tree instead.
const root = process.argv[2] ? resolve(process.argv[2]) : resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const datePattern = /(?<!\d)20\d\d-[01]\d-[0-3]\d(?!\d)|Date\.UTC\(|new Date\(\s*\d/;
/** The mark of a model package's created date (see above); the line must hold nothing else dated. */
const inertMark = 'date-inert';

/** Whether a file's text pins a date, leaving out the lines marked inert. */
function textPinsDate(text) {
  return datePattern.test(
    text
      .split('\n')
      .filter((line) => !line.includes(inertMark))
      .join('\n'),
  );
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const cache = new Map();
/** Whether `file` or a relative import of it inside test/ (static, side-effect or dynamic) pins a date. */
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
  let pinned = textPinsDate(text);
  for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    if (pinned) break;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    if (target.startsWith(join(root, 'test'))) pinned = pinsDate(target, seen);
  }
  cache.set(file, pinned);
  return pinned;
}

const files = walk(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts') && pinsDate(f))
  .map((f) => relative(root, f))
  .sort();
process.stdout.write(files.join('\n') + '\n');

/**
 * Turns the README's shell blocks into one bash script that runs them in order, with the few liberties a
 * test must take (each one listed here, and nothing else changed).
 */

/** The fenced ```sh / ```bash / ```shell blocks of a markdown text, in order. */
export function shellBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const fence = /^```(sh|bash|shell)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let match = fence.exec(markdown); match; match = fence.exec(markdown)) blocks.push(match[2]!);
  return blocks;
}

export interface ReadmeValues {
  /** Where `npm start` serves (the README shows http://127.0.0.1:3000). */
  url: string;
  /** The admin password `npm start` printed. */
  password: string;
}

const readmeUrl = 'http://127.0.0.1:3000';
const passwordPlaceholder = '<the printed admin password>';

function singleQuoted(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** One README line as the test runs it. */
function adapt(line: string, values: ReadmeValues): string {
  // The quick start: this checkout is installed, `npm start` is running, and `npm test` is this very run.
  if (/^npm ci && npm (start|test)\b/.test(line)) return `# quick start, done by the test: ${line.replace(/\s*#.*$/, '')}`;
  let adapted = line.split(readmeUrl).join(values.url).split(`'${passwordPlaceholder}'`).join(singleQuoted(values.password));
  if (/--follow\b/.test(adapted)) {
    // Live commands run until Ctrl-C: they must still be running, not failed, after a few seconds.
    adapted = `{ timeout --kill-after=2 4 ${adapted.replace(/\s+#.*$/, '')} || [ $? -eq 124 ]; }`;
  }
  return adapted;
}

/** The whole script: strict bash, curl failing on HTTP errors, and each line named when it fails. */
export function readmeScript(markdown: string, values: ReadmeValues): string {
  const body = shellBlocks(markdown)
    .map((block) => block.split('\n').map((line) => adapt(line, values)).join('\n'))
    .join('\n');
  if (body.includes(passwordPlaceholder) || body.includes(readmeUrl)) throw new Error('a README placeholder was left unreplaced');
  return [
    'set -euo pipefail',
    "trap 'echo \"README command failed ($?): $BASH_COMMAND\" >&2' ERR",
    'curl() { command curl --fail-with-body "$@"; }',
    body,
  ].join('\n');
}

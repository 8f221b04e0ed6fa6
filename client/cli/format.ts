/** Human output for the CLI: aligned tables, numbers, a progress bar. `--json` output bypasses all of it. */

export type Cell = string | number | boolean | null | undefined;

function text(cell: Cell): string {
  if (cell === null || cell === undefined) return '-';
  if (typeof cell === 'number') return formatNumber(cell);
  return String(cell);
}

export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  return abs >= 100 ? n.toFixed(2) : abs >= 1 ? n.toFixed(3) : n.toPrecision(3);
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(text));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === null || r[i] === undefined));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

/** `key: value` lines. */
export function fields(entries: [string, Cell][]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${text(v)}`).join('\n') + '\n';
}

/** A one-line progress bar redrawn in place (only on a terminal). */
export class ProgressBar {
  private lastDraw = 0;
  constructor(
    private readonly write: (s: string) => void,
    private readonly label: string,
    private readonly width = 30,
  ) {}

  update(fraction: number, detail: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const f = Math.max(0, Math.min(1, fraction));
    const filled = Math.round(f * this.width);
    this.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${String(Math.floor(f * 100)).padStart(3)}% ${detail}\u001b[K`);
  }

  done(detail: string): void {
    this.update(1, detail, true);
    this.write('\n');
  }
}

/**
 * CSV cells and lines for batch files (parsing is csv-parse's, in batch-file.ts). Cells that are numbers
 * become numbers; an empty cell is a missing value; anything else stays a string, for the server to reject
 * with its rule.
 */

/** One data row as the API takes it: header names to numbers (strings when not numeric; empty cells left out). */
export function csvRow(header: readonly string[], cells: readonly string[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  header.forEach((name, i) => {
    const raw = (cells[i] ?? '').trim();
    if (raw === '') return;
    const n = Number(raw);
    row[name] = Number.isNaN(n) ? raw : n;
  });
  return row;
}

export function csvEscape(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvEscape).join(',')}\n`;
}

/** One CSV line (RFC 4180 fields, no line breaks inside quotes): used by `twin feedback` for its small files. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) throw new Error('unterminated quoted field');
  out.push(field);
  return out;
}

import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import type { TwinClient } from '../sdk.js';
import { parse as parseCsv } from 'csv-parse';
import { csvLine, csvRow } from './csv.js';

/**
 * `twin batch <file>`: rows from a CSV (header = feature names), JSON (an array of rows, or `{inputs}`) or
 * JSON Lines file, of any size: CSV and JSON Lines are streamed, sent in chunks of at most 100 rows
 * (`concurrency` chunks in flight), and the results written in input order as they arrive, as CSV or JSON,
 * with each failed row's error next to it.
 */

export type InputFormat = 'csv' | 'json' | 'jsonl';
export type OutputFormat = 'csv' | 'json';

export class BatchFileError extends Error {
  override readonly name = 'BatchFileError';
}

export function inputFormatOf(file: string): InputFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.json') return 'json';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new BatchFileError(`${file}: unknown file type ${ext || '(none)'}; use .csv, .json, .jsonl or .ndjson`);
}

interface SourceRow {
  row: unknown;
  /** Bytes of the file read so far, for the progress bar. */
  bytes: number;
}

export async function* readRows(file: string, format: InputFormat, onHeader: (columns: string[]) => void): AsyncGenerator<SourceRow> {
  if (format === 'json') {
    const text = await readFile(file, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new BatchFileError(`${file}: not valid JSON (${(error as Error).message})`);
    }
    const rows = Array.isArray(json) ? json : (json as { inputs?: unknown })?.inputs;
    if (!Array.isArray(rows)) throw new BatchFileError(`${file}: expected an array of rows or {"inputs": [...]}`);
    const first = rows.find((r) => typeof r === 'object' && r !== null && !Array.isArray(r)) as Record<string, unknown> | undefined;
    onHeader(first ? Object.keys(first) : []);
    for (let i = 0; i < rows.length; i++) yield { row: rows[i], bytes: Math.round(((i + 1) / rows.length) * text.length) };
    return;
  }
  if (format === 'csv') {
    yield* readCsvRows(file, onHeader);
    return;
  }
  const input = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let header: string[] | undefined;
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      {
        let row: unknown;
        try {
          row = JSON.parse(line);
        } catch {
          throw new BatchFileError(`${file}:${lineNo}: not JSON`);
        }
        if (!header && typeof row === 'object' && row !== null && !Array.isArray(row)) {
          header = Object.keys(row);
          onHeader(header);
        }
        yield { row, bytes: input.bytesRead };
      }
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * CSV streamed through csv-parse (RFC 4180: quoted fields with commas, quotes and newlines, a BOM, CRLF or
 * LF); the first record is the header of feature names.
 */
async function* readCsvRows(file: string, onHeader: (columns: string[]) => void): AsyncGenerator<SourceRow> {
  const input = createReadStream(file);
  const parser = input.pipe(parseCsv({ bom: true, skip_empty_lines: true, relax_column_count: true }));
  input.on('error', (error) => parser.destroy(error));
  let header: string[] | undefined;
  try {
    for await (const cells of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = cells.map((c) => c.trim());
        onHeader(header);
        continue;
      }
      yield { row: csvRow(header, cells), bytes: input.bytesRead };
    }
  } catch (error) {
    const e = error as Error & { lines?: number; code?: string };
    if (e.code === 'ENOENT' || e.code === 'EISDIR') throw error;
    throw new BatchFileError(`${file}${e.lines ? `:${e.lines}` : ''}: ${e.message}`);
  } finally {
    parser.destroy();
    input.destroy();
  }
}

interface Sink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

function fileSink(path: string): Sink {
  const stream = createWriteStream(path);
  let failure: Error | undefined;
  stream.on('error', (error) => {
    failure ??= error;
  });
  return {
    async write(text) {
      if (failure) throw failure;
      if (!stream.write(text)) await once(stream, 'drain');
    },
    async close() {
      await new Promise<void>((done, fail) => stream.end((error?: Error | null) => (error ? fail(error) : done())));
      if (failure) throw failure;
    },
  };
}

export interface BatchFileOptions {
  client: TwinClient;
  file: string;
  /** A file path; without it the results go to `stdout`. */
  out?: string;
  stdout: (text: string) => void;
  /** @default the extension of `out`, else csv for a CSV input and json otherwise */
  format?: OutputFormat;
  chunkSize: number;
  /** The model by name (`/api/v1/models/{name}/batch`); default: the deployment's (or plant's) default model. */
  model?: string;
  concurrency: number;
  onProgress?: (progress: { fraction: number; rows: number; failed: number }) => void;
  signal?: AbortSignal;
}

export interface BatchFileResult {
  rows: number;
  successful: number;
  failed: number;
  requests: number;
  /** The first failed rows: index (0-based, data rows only) and why. */
  failures: { index: number; error: string }[];
  output: string;
  format: OutputFormat;
}

export async function runBatchFile(options: BatchFileOptions): Promise<BatchFileResult> {
  const inputFormat = inputFormatOf(options.file);
  const size = (await stat(options.file).catch(() => {
    throw new BatchFileError(`cannot read ${options.file}`);
  })).size;
  const outExt = options.out ? extname(options.out).toLowerCase() : '';
  const format: OutputFormat = options.format ?? (outExt === '.csv' ? 'csv' : outExt === '.json' ? 'json' : inputFormat === 'csv' ? 'csv' : 'json');
  const sink: Sink = options.out
    ? fileSink(options.out)
    : {
        write: async (text) => options.stdout(text),
        close: async () => undefined,
      };
  let columns: string[] = [];
  const result: BatchFileResult = { rows: 0, successful: 0, failed: 0, requests: 0, failures: [], output: options.out ?? '-', format };
  let wroteHeader = false;
  let firstJson = true;
  const group: SourceRow[] = [];
  const groupSize = options.chunkSize * options.concurrency;

  const flush = async () => {
    if (group.length === 0) return;
    const offset = result.rows;
    const rows = group.map((g) => g.row);
    const answer = await options.client.batch(rows, {
      chunkSize: options.chunkSize,
      concurrency: options.concurrency,
      indexOffset: offset,
      ...(options.model ? { model: options.model } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const byIndex = new Map<number, { prediction?: number; interval?: [number, number] | null; error?: string; issues?: unknown }>();
    for (const r of answer.results) byIndex.set(r.index, { prediction: r.prediction, interval: r.confidence_interval });
    for (const e of answer.errors) byIndex.set(e.index, { error: e.error, issues: e.issues });
    if (!wroteHeader) {
      await sink.write(format === 'csv' ? csvLine(['index', ...columns, 'prediction', 'interval_lower', 'interval_upper', 'error']) : '[\n');
      wroteHeader = true;
    }
    let text = '';
    rows.forEach((row, i) => {
      const index = offset + i;
      const r = byIndex.get(index) ?? { error: 'no answer for this row' };
      if (r.error !== undefined && result.failures.length < 20) result.failures.push({ index, error: r.error });
      if (format === 'csv') {
        const input = (typeof row === 'object' && row !== null ? row : {}) as Record<string, unknown>;
        text += csvLine([index, ...columns.map((c) => input[c]), r.prediction, r.interval?.[0], r.interval?.[1], r.error]);
      } else {
        const entry = {
          index,
          input: row,
          ...(r.error === undefined ? { prediction: r.prediction, confidence_interval: r.interval ?? null } : { error: r.error, issues: r.issues }),
        };
        text += `${firstJson ? '' : ',\n'}  ${JSON.stringify(entry)}`;
        firstJson = false;
      }
    });
    await sink.write(text);
    result.rows += rows.length;
    result.successful += answer.successful;
    result.failed += answer.failed;
    result.requests += answer.chunks;
    options.onProgress?.({ fraction: size ? group[group.length - 1]!.bytes / size : 1, rows: result.rows, failed: result.failed });
    group.length = 0;
  };

  try {
    for await (const row of readRows(options.file, inputFormat, (c) => (columns = c))) {
      group.push(row);
      if (group.length >= groupSize) await flush();
    }
    await flush();
    if (!wroteHeader) await sink.write(format === 'csv' ? csvLine(['index', ...columns, 'prediction', 'interval_lower', 'interval_upper', 'error']) : '[');
    if (format === 'json') await sink.write('\n]\n');
  } finally {
    await sink.close();
  }
  return result;
}

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { FeedbackObservation, FeedbackResponse, TwinClient } from '../sdk.js';
import { csvRow, parseCsvLine } from './csv.js';
import { table } from './format.js';

/**
 * `twin feedback <file>`: measured values (lab results) for earlier predictions, from a CSV whose header has
 * `value` and either `request_id` (and optionally `index`, the batch row) or the model's feature columns and
 * `time` (ISO). Sent in calls of at most 1,000; rows that were not accepted are listed with their reason.
 */

export class FeedbackFileError extends Error {
  override readonly name = 'FeedbackFileError';
}

/** Parses the CSV into observations; `line` numbers in errors are the file's. */
export function parseFeedbackCsv(text: string, valueColumn = 'value'): FeedbackObservation[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerAt = lines.findIndex((l) => l.trim() !== '');
  if (headerAt < 0) throw new FeedbackFileError('the file is empty: it needs a header row');
  const header = parseCsvLine(lines[headerAt]!).map((h) => h.trim());
  if (!header.includes(valueColumn)) throw new FeedbackFileError(`the header has no ${valueColumn} column (the measured value)`);
  const byId = header.includes('request_id');
  if (!byId && !header.includes('time')) throw new FeedbackFileError('the header needs request_id, or the feature columns and time');
  const observations: FeedbackObservation[] = [];
  for (let l = headerAt + 1; l < lines.length; l++) {
    if (lines[l]!.trim() === '') continue;
    const cells = parseCsvLine(lines[l]!);
    const row = csvRow(header, cells);
    const value = row[valueColumn];
    if (typeof value !== 'number') throw new FeedbackFileError(`line ${l + 1}: ${valueColumn} ${JSON.stringify(cells[header.indexOf(valueColumn)] ?? '')} is not a number`);
    if (byId && row.request_id !== undefined) {
      const index = row.index;
      observations.push({ request_id: String(row.request_id), ...(typeof index === 'number' ? { index } : {}), value });
      continue;
    }
    const { time, [valueColumn]: _v, request_id: _r, index: _i, ...inputs } = row;
    if (typeof time !== 'string') throw new FeedbackFileError(`line ${l + 1}: neither request_id nor time`);
    observations.push({ inputs: inputs as Record<string, number>, time, value });
  }
  if (observations.length === 0) throw new FeedbackFileError('the file has a header but no rows');
  return observations;
}

export function feedbackText(res: FeedbackResponse): string {
  const head = `${res.model}: ${res.accepted} accepted, ${res.duplicate} duplicate, ${res.unknown} unknown, ${res.expired} expired (of ${res.total})\n`;
  const late = res.results.filter((r) => r.late).length;
  const notAccepted = res.results.filter((r) => r.status !== 'accepted');
  return (
    head +
    (late ? `${late} accepted late (more than a day after the prediction)\n` : '') +
    (notAccepted.length ? table(['row', 'status', 'request_id'], notAccepted.slice(0, 50).map((r) => [r.index + 1, r.status, r.request_id ?? ''])) : '')
  );
}

export interface FeedbackCommandContext {
  cwd: string;
  authed(cmd: Command): Promise<TwinClient>;
  out(cmd: Command, human: () => string, data: unknown): void;
  /** Exit code when some rows were not accepted (the CLI's "some batch rows failed"). */
  setPartial(): void;
}

export function registerFeedbackCommand(program: Command, ctx: FeedbackCommandContext): void {
  program
    .command('feedback')
    .description('send measured values (lab results) for earlier predictions, from a CSV')
    .argument('<file>', 'CSV: value and request_id [, index], or the feature columns and time (ISO)')
    .option('-m, --model <name>', 'the model the predictions came from', 'reactor-yield')
    .option('--value-column <name>', 'the column holding the measured value', 'value')
    .action(async (file: string, opts: { model: string; valueColumn: string }, cmd: Command) => {
      const { resolve } = await import('node:path');
      const observations = parseFeedbackCsv(await readFile(resolve(ctx.cwd, file), 'utf8'), opts.valueColumn);
      const res = await (await ctx.authed(cmd)).quality.feedbackAll(opts.model, observations);
      if (res.accepted < res.total) ctx.setPartial();
      ctx.out(cmd, () => feedbackText(res), res);
    });
}

/**
 * `twin audit export`: the audit records and alert events of a time range, as a file or a stream.
 *
 * The export file is JSON lines, one record per line, in an envelope so that a record's own fields never
 * clash with the line's discriminator (alert events have a `kind` of their own, `alert` or `resolved`):
 *   {"kind":"audit","record":{...as GET /api/v1/audit returns it}}
 *   {"kind":"alert","event":{...as GET /api/v1/alerts returns it}}
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import * as z from 'zod';
import { call, EdgeSyncError, type Connection } from './connection.js';

/** The API caps an audit query at 31 days (functions/core/audit/service.ts). */
export const maxAuditWindowMs = 31 * 86_400_000;
const auditPageSize = 200;
const alertsLimit = 200;

const durationUnits: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

/**
 * `--since`: a duration back from `now` (`90s`, `30m`, `1h`, `7d`, `2w`) or an ISO time
 * (`2026-11-20T06:00:00Z`, `2026-11-20T06:00:00+01:00`, or a date `2026-11-20`, meaning its UTC midnight).
 */
export function parseSince(value: string, now: number = Date.now()): Date {
  const text = value.trim();
  const duration = /^(\d{1,9})\s*([smhdw])$/.exec(text);
  if (duration) {
    const amount = Number(duration[1]);
    if (amount === 0) throw new EdgeSyncError('INVALID_ARGUMENT', `since must be a positive duration, got ${JSON.stringify(value)}`);
    return new Date(now - amount * durationUnits[duration[2]!]!);
  }
  if (isoDateTime.safeParse(text).success) return new Date(Date.parse(text));
  if (isoDate.safeParse(text).success) return new Date(Date.parse(`${text}T00:00:00Z`));
  throw new EdgeSyncError('INVALID_ARGUMENT', `since must be a duration such as 30m, 1h or 7d, or an ISO time such as 2026-11-20T06:00:00Z; got ${JSON.stringify(value)}`);
}

/**
 * Splits `[from, to]` (inclusive, epoch ms) into consecutive, non-overlapping windows of at most 31 days,
 * oldest first, as the audit API takes them: a record on a boundary falls in exactly one window.
 */
export function auditWindows(from: number, to: number, maxMs: number = maxAuditWindowMs): { from: string; to: string }[] {
  if (!(from <= to)) throw new EdgeSyncError('INVALID_ARGUMENT', `since (${new Date(from).toISOString()}) must not be after until (${new Date(to).toISOString()})`);
  const windows: { from: string; to: string }[] = [];
  for (let start = from; start <= to; ) {
    // The API refuses to - from > 31 days; both ends are inclusive, so a window ends 1 ms before the next.
    const end = Math.min(start + maxMs - 1, to);
    windows.push({ from: new Date(start).toISOString(), to: new Date(end).toISOString() });
    start = end + 1;
  }
  return windows;
}

export interface ExportAuditOptions extends Connection {
  /** The first instant exported: a Date, or what {@link parseSince} takes. */
  since: Date | string;
  /** The last instant exported. @default now (fixed when the export starts) */
  until?: Date | string;
  /** A file path (written atomically: a temporary sibling, then a rename) or a stream (e.g. stdout). */
  out: string | Writable;
  /** Whose alerts. @default every model the server lists (GET /api/v1/models), else the server's default model */
  models?: string[];
  /** The clock `since`/`until` durations are taken back from. @default Date.now */
  now?: () => number;
}

export interface ExportAuditResult {
  audit: number;
  alerts: number;
  from: string;
  to: string;
  /** How many ≤31-day audit queries the range took. */
  windows: number;
  /**
   * False when some model had more alert events in the range than GET /api/v1/alerts returns at once (200,
   * newest first, no time filter or cursor): the oldest of them are then missing from the export.
   */
  alertsComplete: boolean;
}

const auditPageSchema = z.object({ items: z.array(z.record(z.string(), z.unknown())), next_cursor: z.string().nullable().optional() });
const alertsSchema = z.object({ alerts: z.array(z.record(z.string(), z.unknown())) });
const modelsSchema = z.object({ models: z.array(z.object({ name: z.string() })) });

function toEpoch(value: Date | string, now: number, label: string): number {
  const ms = value instanceof Date ? value.getTime() : parseSince(value, now).getTime();
  if (!Number.isFinite(ms)) throw new EdgeSyncError('INVALID_ARGUMENT', `${label} is not a valid time`);
  return ms;
}

interface LineSink {
  write(line: string): Promise<void>;
  /** Finishes: a file is closed and renamed into place; a stream is left open (it may be stdout). */
  commit(): Promise<void>;
  /** Gives up: a file's temporary is removed, so a failed export leaves no partial file. */
  abort(): Promise<void>;
}

async function openLineSink(out: string | Writable): Promise<LineSink> {
  const target = typeof out === 'string' ? resolve(out) : undefined;
  // Audit records name people and addresses: the file is the owner's only.
  const tmp = target === undefined ? undefined : join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const stream = tmp === undefined ? (out as Writable) : createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  if (tmp !== undefined) await once(stream, 'open');
  let failure: Error | undefined;
  const onError = (error: Error) => {
    failure ??= error;
  };
  stream.on('error', onError);
  return {
    async write(line) {
      if (failure) throw failure;
      // `once` rejects if the stream fails while we wait.
      if (!stream.write(`${line}\n`)) await once(stream, 'drain');
      if (failure) throw failure;
    },
    async commit() {
      if (tmp !== undefined && target !== undefined) {
        await new Promise<void>((done, fail) => stream.end((error?: Error | null) => (error ? fail(error) : done())));
        if (failure) throw failure;
        await rename(tmp, target);
      }
      stream.off('error', onError);
      if (failure) throw failure;
    },
    async abort() {
      if (tmp === undefined) {
        stream.off('error', onError);
        return;
      }
      // Writes still queued fail once the stream is destroyed: those errors are expected (onError stays).
      const closed = new Promise<void>((done) => stream.once('close', () => done()));
      stream.destroy();
      await closed;
      await rm(tmp, { force: true });
    },
  };
}

/**
 * Exports audit records (every page of `GET /api/v1/audit` over `[since, until]`, in ≤31-day windows) and
 * alert events (`GET /api/v1/alerts` per model, filtered to the same range) as JSON lines (see the top of
 * this file). The token needs `audit:read` and `twin:read` (and `models:read` to list the models): an
 * admin's or an auditor's. A plant's auditor exports its plant's records only.
 */
export async function exportAudit(options: ExportAuditOptions): Promise<ExportAuditResult> {
  const now = (options.now ?? Date.now)();
  const from = toEpoch(options.since, now, 'since');
  const to = options.until === undefined ? now : toEpoch(options.until, now, 'until');
  const windows = auditWindows(from, to);
  const connection: Connection = { url: options.url, token: options.token, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const models = options.models ?? (await listModels(connection));

  const sink = await openLineSink(options.out);
  let audit = 0;
  let alerts = 0;
  let alertsComplete = true;
  try {
    for (const window of windows) {
      let cursor: string | undefined;
      do {
        const query = new URLSearchParams({ from: window.from, to: window.to, limit: String(auditPageSize), ...(cursor ? { cursor } : {}) });
        const page = await call(connection, 'GET', `/api/v1/audit?${query}`, auditPageSchema);
        for (const record of page.items) {
          await sink.write(JSON.stringify({ kind: 'audit', record }));
          audit++;
        }
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
    }
    for (const model of models) {
      const query = new URLSearchParams({ limit: String(alertsLimit), ...(model === undefined ? {} : { model }) });
      const page = await call(connection, 'GET', `/api/v1/alerts?${query}`, alertsSchema);
      let oldest = Infinity;
      for (const event of page.alerts) {
        const time = typeof event.time === 'string' ? Date.parse(event.time) : NaN;
        if (Number.isNaN(time)) throw new EdgeSyncError('INVALID_RESPONSE', `GET /api/v1/alerts: an event without a valid time (${JSON.stringify(event.id)})`);
        oldest = Math.min(oldest, time);
        if (time < from || time > to) continue;
        await sink.write(JSON.stringify({ kind: 'alert', event }));
        alerts++;
      }
      if (page.alerts.length >= alertsLimit && oldest >= from) alertsComplete = false;
    }
    await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
  return { audit, alerts, from: new Date(from).toISOString(), to: new Date(to).toISOString(), windows: windows.length, alertsComplete };
}

/** Every model the server lists; `[undefined]` (the server's default model) when the token may not list them. */
async function listModels(connection: Connection): Promise<(string | undefined)[]> {
  try {
    const { models } = await call(connection, 'GET', '/api/v1/models', modelsSchema);
    return models.length ? models.map((m) => m.name) : [undefined];
  } catch (error) {
    if (error instanceof EdgeSyncError && error.status === 403) return [undefined];
    throw error;
  }
}

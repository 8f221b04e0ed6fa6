/** `twin audit import`: an export file, sent to a deployment in chunks; safe to run again. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import * as z from 'zod';
import { largeBodyBytes } from '../../functions/body-limits.js';
import { maxJsonKeys } from '../../functions/core/json-body.js';
import { call, EdgeSyncError, type Connection } from './connection.js';

/** The import route takes at most 1000 audit records and 1000 alerts; we send at most 500 items per request. */
export const maxImportChunk = 500;

/**
 * A request also stays within the route's body limit and the distinct keys one body may spell (functions/core/json-body.ts):
 * alerts name their model's features, so 500 alerts of 8 models of 256 features each spell more than 2,048 keys.
 * A chunk is sent early rather than grow past either.
 */
const chunkBudget = { bytes: largeBodyBytes - 64 * 1024, keys: maxJsonKeys };

/** Every key `value` spells, at any depth, into `keys`. */
function keysOf(value: unknown, keys: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) keysOf(v, keys);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      keys.add(k);
      keysOf(v, keys);
    }
  }
  return keys;
}

export interface ImportAuditOptions extends Connection {
  /** A file written by {@link exportAudit}. */
  file: string;
  /** Items per request. @default 500 (the most allowed) */
  chunkSize?: number;
  /** The edge box the file came from: the server keeps it in each record's import mark. @default the server's `unnamed` */
  edge?: string;
}

interface Counts {
  stored: number;
  duplicate: number;
  /** Past the deployment's retention: not written (it would be unreadable, then deleted). */
  expired: number;
}

export interface ImportAuditResult {
  audit: Counts;
  alerts: Counts;
  /** Records read from the file. */
  lines: number;
  requests: number;
}

const importResponseSchema = z.object({
  // expired: servers before 2026-12-04 do not send it.
  audit: z.object({ stored: z.number(), duplicate: z.number(), expired: z.number().default(0) }),
  alerts: z.object({ stored: z.number(), duplicate: z.number(), expired: z.number().default(0) }),
});

const exportLineSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('audit'), record: z.record(z.string(), z.unknown()) }).strict(),
  z.object({ kind: z.literal('alert'), event: z.record(z.string(), z.unknown()) }).strict(),
]);

/**
 * Imports an export file into a deployment (`POST /api/v1/audit/import`, which needs `audit:write`: an
 * admin's token) in requests of at most 500 items (fewer when they would spell more keys or bytes than one body may), and sums what the server stored and what it already
 * had. The server keys records by principal, time and request id and alerts by id, so running the same
 * import twice stores nothing the second time, and an import cut short can simply be run again.
 */
export async function importAudit(options: ImportAuditOptions): Promise<ImportAuditResult> {
  const chunkSize = options.chunkSize ?? maxImportChunk;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > maxImportChunk) {
    throw new EdgeSyncError('INVALID_ARGUMENT', `chunkSize must be an integer from 1 to ${maxImportChunk}`);
  }
  const connection: Connection = { url: options.url, token: options.token, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const result: ImportAuditResult = { audit: { stored: 0, duplicate: 0, expired: 0 }, alerts: { stored: 0, duplicate: 0, expired: 0 }, lines: 0, requests: 0 };
  const envelopeKeys = ['edge', 'audit', 'alerts'];
  let chunk = { audit: [] as unknown[], alerts: [] as unknown[], firstLine: 0, lastLine: 0, bytes: 0, keys: new Set(envelopeKeys) };

  const flush = async () => {
    if (chunk.audit.length + chunk.alerts.length === 0) return;
    let counts: z.infer<typeof importResponseSchema>;
    try {
      counts = await call(connection, 'POST', '/api/v1/audit/import', importResponseSchema, { ...(options.edge ? { edge: options.edge } : {}), audit: chunk.audit, alerts: chunk.alerts });
    } catch (error) {
      if (error instanceof EdgeSyncError) {
        throw new EdgeSyncError(error.code, `${options.file} lines ${chunk.firstLine}-${chunk.lastLine}: ${error.message}`, { ...(error.status ? { status: error.status } : {}), cause: error });
      }
      throw error;
    }
    result.requests++;
    result.audit.stored += counts.audit.stored;
    result.audit.duplicate += counts.audit.duplicate;
    result.alerts.stored += counts.alerts.stored;
    result.alerts.duplicate += counts.alerts.duplicate;
    result.audit.expired += counts.audit.expired;
    result.alerts.expired += counts.alerts.expired;
    chunk = { audit: [], alerts: [], firstLine: 0, lastLine: 0, bytes: 0, keys: new Set(envelopeKeys) };
  };

  const input = createReadStream(options.file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new EdgeSyncError('INVALID_FILE', `${options.file}:${lineNo}: not JSON`);
      }
      const parsed = exportLineSchema.safeParse(json);
      if (!parsed.success) {
        throw new EdgeSyncError('INVALID_FILE', `${options.file}:${lineNo}: not an exported record (expected {"kind":"audit","record":{...}} or {"kind":"alert","event":{...}})`);
      }
      result.lines++;
      const item = parsed.data.kind === 'audit' ? parsed.data.record : parsed.data.event;
      const bytes = Buffer.byteLength(JSON.stringify(item)) + 1;
      const itemKeys = keysOf(item, new Set());
      let added = 0;
      for (const key of itemKeys) if (!chunk.keys.has(key)) added++;
      if (chunk.bytes + bytes > chunkBudget.bytes || chunk.keys.size + added > chunkBudget.keys) await flush();
      chunk.bytes += bytes;
      for (const key of itemKeys) chunk.keys.add(key);
      if (chunk.firstLine === 0) chunk.firstLine = lineNo;
      chunk.lastLine = lineNo;
      if (parsed.data.kind === 'audit') chunk.audit.push(item);
      else chunk.alerts.push(item);
      if (chunk.audit.length + chunk.alerts.length >= chunkSize) await flush();
    }
    await flush();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EdgeSyncError('INVALID_ARGUMENT', `no such file: ${options.file}`, { cause: error });
    throw error;
  } finally {
    lines.close();
    input.destroy();
  }
  return result;
}

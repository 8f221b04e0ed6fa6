/** `twin audit import`: an export file, sent to a deployment in chunks; safe to run again. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import * as z from 'zod';
import { call, EdgeSyncError, type Connection } from './connection.js';

/** The import route takes at most 1000 audit records and 1000 alerts; we send at most 500 items per request. */
export const maxImportChunk = 500;

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
}

export interface ImportAuditResult {
  audit: Counts;
  alerts: Counts;
  /** Records read from the file. */
  lines: number;
  requests: number;
}

const importResponseSchema = z.object({
  audit: z.object({ stored: z.number(), duplicate: z.number() }),
  alerts: z.object({ stored: z.number(), duplicate: z.number() }),
});

const exportLineSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('audit'), record: z.record(z.string(), z.unknown()) }).strict(),
  z.object({ kind: z.literal('alert'), event: z.record(z.string(), z.unknown()) }).strict(),
]);

/**
 * Imports an export file into a deployment (`POST /api/v1/audit/import`, which needs `audit:write`: an
 * admin's token) in requests of at most 500 items, and sums what the server stored and what it already
 * had. The server keys records by principal, time and request id and alerts by id, so running the same
 * import twice stores nothing the second time, and an import cut short can simply be run again.
 */
export async function importAudit(options: ImportAuditOptions): Promise<ImportAuditResult> {
  const chunkSize = options.chunkSize ?? maxImportChunk;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > maxImportChunk) {
    throw new EdgeSyncError('INVALID_ARGUMENT', `chunkSize must be an integer from 1 to ${maxImportChunk}`);
  }
  const connection: Connection = { url: options.url, token: options.token, ...(options.fetch ? { fetch: options.fetch } : {}) };
  const result: ImportAuditResult = { audit: { stored: 0, duplicate: 0 }, alerts: { stored: 0, duplicate: 0 }, lines: 0, requests: 0 };
  let chunk = { audit: [] as unknown[], alerts: [] as unknown[], firstLine: 0, lastLine: 0 };

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
    chunk = { audit: [], alerts: [], firstLine: 0, lastLine: 0 };
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
      if (chunk.firstLine === 0) chunk.firstLine = lineNo;
      chunk.lastLine = lineNo;
      if (parsed.data.kind === 'audit') chunk.audit.push(parsed.data.record);
      else chunk.alerts.push(parsed.data.event);
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

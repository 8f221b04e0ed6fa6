import type { FaultProxy } from '../../infra/local/fault-proxy.js';

/**
 * What a route makes DynamoDB read, counted at the fault proxy in front of the embedded store (the functions'
 * own SDK calls, unchanged): per Query, the index entries it read (`ScannedCount`: before any filter, what
 * DynamoDB charges) and per BatchGetItem the items it returned. Not timing: item counts.
 */
export interface StoreReads {
  queries: number;
  /** Entries the queries read (ScannedCount), filters included. */
  scanned: number;
  /** Items BatchGetItem returned. */
  fetched: number;
}

/** Counts the reads of table `tableName` (and its indexes) while `fn` runs. */
export async function countReads<T>(proxy: FaultProxy, tableName: string, fn: () => Promise<T>): Promise<{ result: T; reads: StoreReads }> {
  const reads: StoreReads = { queries: 0, scanned: 0, fetched: 0 };
  proxy.tap = ({ target, request, response }) => {
    const op = target.split('.')[1];
    if (op !== 'Query' && op !== 'BatchGetItem') return;
    const sent = JSON.parse(request) as { TableName?: string; RequestItems?: Record<string, unknown> };
    const answer = JSON.parse(response) as { ScannedCount?: number; Responses?: Record<string, unknown[]> };
    if (op === 'Query' && sent.TableName === tableName) {
      reads.queries++;
      reads.scanned += answer.ScannedCount ?? 0;
    }
    if (op === 'BatchGetItem') reads.fetched += answer.Responses?.[tableName]?.length ?? 0;
  };
  try {
    return { result: await fn(), reads };
  } finally {
    proxy.tap = undefined;
  }
}

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { InvalidRequestError } from '../core/errors.js';
import type { AuditLog, AuditQuery, AuditRecord } from '../core/ports.js';
import { writerFor, type BatchWriteOptions, type BatchWriter } from './batch-put.js';

/** Items DynamoDB still left unprocessed after every retry: their requests' records go to the log instead. */
export class AuditUnprocessedError extends Error {
  constructor(attempts: number) {
    super(`audit record left unprocessed by BatchWriteItem after ${attempts} attempts`);
    this.name = 'AuditUnprocessedError';
  }
}

const isoDay = /^\d{4}-\d{2}-\d{2}$/;
const cursorSchema = z.strictObject({
  d: z.string().regex(isoDay).nullable(),
  k: z.strictObject({ principal: z.string().min(1).max(160), sk: z.string().min(1).max(300), day: z.string().regex(isoDay).optional() }),
});
type Cursor = z.infer<typeof cursorSchema>;

function encodeCursor(day: string | null, key: Record<string, string>): string {
  return Buffer.from(JSON.stringify({ d: day, k: key })).toString('base64url');
}

function badCursor(): InvalidRequestError {
  return new InvalidRequestError('cursor is not one this API returned for this query', [
    { field: 'cursor', rule: 'opaque_cursor', message: 'pass next_cursor back unchanged, with the same filters' },
  ]);
}

/** A cursor is only good for the query that made it: same mode (by principal or by day), same range. */
function decodeCursor(cursor: string, query: AuditQuery): Cursor {
  let parsed: Cursor;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw badCursor();
  }
  const { d, k } = parsed;
  const inRange = k.sk >= query.from && k.sk <= `${query.to}#\uffff`;
  const byDay = query.principal === undefined;
  const consistent = byDay
    ? d !== null && k.day === d && d >= dayOf(query.from) && d <= dayOf(query.to)
    : d === null && k.day === undefined && k.principal === query.principal;
  if (!inRange || !consistent) throw badCursor();
  return parsed;
}

function dayOf(iso: string): string {
  return iso.slice(0, 10);
}

function previousDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}

/**
 * The most items one query reads (before its filters): past it the answer ends with what it found and a
 * cursor at the position reached. The filters (a plant, an action, an outcome) apply after the read, so a plant
 * auditor's query paged through every plant's records of up to 31 days in one request, and a filter matching
 * nothing (an action no one ran) through all of them: unbounded reads, for one rate-limit unit.
 */
export const maxEvaluatedPerQuery = 1_000;

/**
 * AuditLog table: partition `principal`, sort `sk = <ISO time>#<request id>`; index `byDay` (day, sk) for
 * queries across principals. Imported records are written conditionally on the key, so re-importing an edge
 * export never duplicates one. Items carry a TTL (retention); reads skip items past it because DynamoDB
 * deletes expired items up to days late (dynalite never does).
 *
 * A request's own record ({@link append}) is group-committed (functions/adapters/batch-put.ts): while one write
 * is in flight, the records of the requests finishing meanwhile wait and go together, up to 25 per
 * BatchWriteItem, items left unprocessed re-sent with backoff; with a writer shared with the served-rows log
 * (a long-lived process), a request's record and its served rows go in the same call. A record alone (always,
 * in Lambda: one request per container, no shared writer) is one conditional PutItem, as before; so AWS
 * functions never send BatchWriteItem and need no batch (or delete) permission.
 * A batch put is an unconditional overwrite: harmless here, because the key holds the request id, so an
 * overwrite can only be the same request's record again.
 */
export class DynamoDbAuditLog implements AuditLog {
  private readonly putRecord: (item: Record<string, unknown>) => Promise<void>;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: BatchWriteOptions & {
      retentionDays: number;
      now?: () => number;
      /** A writer shared with other stores of the same client (long-lived processes); default: its own. */
      writer?: BatchWriter;
    },
  ) {
    this.putRecord = writerFor(db, options).table({
      tableName,
      keyOf: (item) => `${String(item.principal)}\u0000${String(item.sk)}`,
      single: async (item) => void (await this.put(item)),
      unprocessed: (attempts) => new AuditUnprocessedError(attempts),
    });
  }

  private item(record: AuditRecord): Record<string, unknown> {
    const ttl = Math.floor(Date.parse(record.time) / 1000) + this.options.retentionDays * 86_400;
    return { ...record, sk: `${record.time}#${record.requestId}`, day: dayOf(record.time), success: record.outcome < 400, ttl };
  }

  write(record: AuditRecord): Promise<'stored' | 'duplicate'> {
    return this.put(this.item(record));
  }

  private async put(item: Record<string, unknown>): Promise<'stored' | 'duplicate'> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(sk)' }));
      return 'stored';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      throw error;
    }
  }

  append(record: AuditRecord): Promise<void> {
    return this.putRecord(this.item(record));
  }

  async query(query: AuditQuery): Promise<{ items: AuditRecord[]; nextCursor?: string }> {
    const nowSeconds = Math.floor((this.options.now?.() ?? Date.now()) / 1000);
    const filters = ['#ttl > :now'];
    const names: Record<string, string> = { '#ttl': 'ttl' };
    const values: Record<string, unknown> = { ':now': nowSeconds, ':from': query.from, ':to': `${query.to}#\uffff` };
    if (query.action) {
      filters.push('#action = :action');
      names['#action'] = 'action';
      values[':action'] = query.action;
    }
    if (query.outcome === 'success' || query.outcome === 'failure') {
      filters.push('#success = :success');
      names['#success'] = 'success';
      values[':success'] = query.outcome === 'success';
    } else if (typeof query.outcome === 'number') {
      filters.push('#outcome = :outcome');
      names['#outcome'] = 'outcome';
      values[':outcome'] = query.outcome;
    }
    if (query.origin !== undefined) {
      filters.push(query.origin === 'imported' ? 'attribute_exists(#imported)' : 'attribute_not_exists(#imported)');
      names['#imported'] = 'imported';
    }
    if (query.plant !== undefined) {
      filters.push('#plant = :plant');
      names['#plant'] = 'plant';
      values[':plant'] = query.plant;
    }
    const byDay = query.principal === undefined;
    const cursor = query.cursor ? decodeCursor(query.cursor, query) : undefined;
    const firstDay = dayOf(query.from);
    let day: string | null = byDay ? (cursor?.d ?? dayOf(query.to)) : null;
    let startKey: Record<string, string> | undefined = cursor ? { ...cursor.k } : undefined;
    const items: AuditRecord[] = [];
    let evaluated = 0;
    for (;;) {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          ...(byDay ? { IndexName: 'byDay' } : {}),
          KeyConditionExpression: byDay ? '#day = :pk AND sk BETWEEN :from AND :to' : '#principal = :pk AND sk BETWEEN :from AND :to',
          FilterExpression: filters.join(' AND '),
          ExpressionAttributeNames: { ...names, ...(byDay ? { '#day': 'day' } : { '#principal': 'principal' }) },
          ExpressionAttributeValues: { ...values, ':pk': byDay ? day : query.principal },
          ScanIndexForward: false,
          Limit: Math.max(25, query.limit - items.length),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        items.push(toRecord(item));
        if (items.length === query.limit) {
          const key: Record<string, string> = { principal: String(item.principal), sk: String(item.sk) };
          if (byDay) key.day = String(item.day);
          return { items, nextCursor: encodeCursor(day, key) };
        }
      }
      startKey = page.LastEvaluatedKey as Record<string, string> | undefined;
      evaluated += page.ScannedCount ?? page.Items?.length ?? 0;
      // Read enough for one answer: the page ends here, and its cursor goes on from this position.
      if (startKey && evaluated >= maxEvaluatedPerQuery) return { items, nextCursor: encodeCursor(day, startKey) };
      if (startKey) continue;
      if (!byDay || day === null || day <= firstDay) return { items };
      day = previousDay(day);
    }
  }
}

function toRecord(item: Record<string, unknown>): AuditRecord {
  const { sk: _sk, day: _day, success: _success, ttl: _ttl, ...record } = item;
  return record as unknown as AuditRecord;
}

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertClaim, AlertEvent, AlertStateStore } from '../core/ports.js';

/** The history partition of a model: every plant's events, or with `plant` that plant's only. */
function eventsPk(model: string, plant?: string): string {
  return plant ? `events#${model}#plant#${plant}` : `events#${model}`;
}

async function conditional(send: () => Promise<unknown>): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * AlertState table (pk, sk). Cooldown state: `pk = state#<model>#<rule>#<principal>`, `sk = state`, claimed
 * with a conditional update so two containers can never both send. History: `pk = events#<model>`,
 * `sk = <time>#<id>`, newest first, expiring by TTL after `eventRetentionDays`: every plant's, for platform
 * principals. A plant's event is also put in its plant's own partition, `pk = events#<model>#plant#<plant>`, the
 * only one its principals read: another plant's alert volume on a shared model is never read, paid for or waited
 * on by them (a filter on `plant` in the shared partition read, and paged through, every plant's events).
 */
export class DynamoDbAlertStateStore implements AlertStateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: { eventRetentionDays: number; now?: () => number },
  ) {}

  private key(key: string) {
    return { pk: `state#${key}`, sk: 'state' };
  }

  /**
   * One alert per cooldown window, whatever happened in between: a value flapping around the band alerts
   * once, not at every crossing. ALL_OLD returns the replaced state for a release.
   */
  async claim(key: string, now: string, cooldownSeconds: number): Promise<AlertClaim | undefined> {
    const cutoff = new Date(Date.parse(now) - cooldownSeconds * 1000).toISOString();
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(key),
          UpdateExpression: 'SET #state = :firing, lastSent = :now, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(pk) OR lastSent < :cutoff',
          ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':firing': 'firing',
            ':now': now,
            ':cutoff': cutoff,
            ':ttl': Math.floor(Date.parse(now) / 1000) + this.options.eventRetentionDays * 86_400,
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const state = Attributes?.state;
      return Attributes && (state === 'firing' || state === 'resolved')
        ? { at: now, previous: { state, lastSent: String(Attributes.lastSent) } }
        : { at: now };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async release(key: string, claim: AlertClaim): Promise<void> {
    await conditional(() =>
      this.db.send(
        claim.previous
          ? new UpdateCommand({
              TableName: this.tableName,
              Key: this.key(key),
              UpdateExpression: 'SET #state = :state, lastSent = :last',
              ConditionExpression: 'lastSent = :claimed',
              ExpressionAttributeNames: { '#state': 'state' },
              ExpressionAttributeValues: { ':state': claim.previous.state, ':last': claim.previous.lastSent, ':claimed': claim.at },
            })
          : new DeleteCommand({
              TableName: this.tableName,
              Key: this.key(key),
              ConditionExpression: 'lastSent = :claimed',
              ExpressionAttributeValues: { ':claimed': claim.at },
            }),
      ),
    );
  }

  async suppress(key: string, claim: AlertClaim): Promise<void> {
    // lastSent stays the claim's time: the cooldown it started stands. A firing alert stays firing (its
    // resolution is still owed); anything else becomes `suppressed`, which nothing resolves.
    await conditional(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(key),
          UpdateExpression: 'SET #state = :state',
          ConditionExpression: 'lastSent = :claimed',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':state': claim.previous?.state === 'firing' ? 'firing' : 'suppressed', ':claimed': claim.at },
        }),
      ),
    );
  }

  resolve(key: string, now: string): Promise<boolean> {
    return conditional(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(key),
          UpdateExpression: 'SET #state = :resolved, resolvedAt = :now',
          ConditionExpression: '#state = :firing',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':resolved': 'resolved', ':firing': 'firing', ':now': now },
        }),
      ),
    );
  }

  async unresolve(key: string, resolvedAt: string): Promise<void> {
    await conditional(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(key),
          UpdateExpression: 'SET #state = :firing',
          ConditionExpression: '#state = :resolved AND resolvedAt = :at',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':resolved': 'resolved', ':firing': 'firing', ':at': resolvedAt },
        }),
      ),
    );
  }

  async isFiring(key: string): Promise<boolean> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: this.key(key), ConsistentRead: true }));
    return Item?.state === 'firing';
  }

  async recordEvent(event: AlertEvent): Promise<'stored' | 'duplicate'> {
    const item = { sk: `${event.time}#${event.id}`, ...event, ttl: Math.floor(Date.parse(event.time) / 1000) + this.options.eventRetentionDays * 86_400 };
    const stored = await conditional(() =>
      this.db.send(new PutCommand({ TableName: this.tableName, Item: { pk: eventsPk(event.model), ...item }, ConditionExpression: 'attribute_not_exists(sk)' })),
    );
    // The plant's copy of what is stored (idempotent): for a duplicate, of the item stored first, so a second
    // import mends a first whose copy failed and a clashing record never writes its own plant's copy.
    const kept = stored ? { pk: eventsPk(event.model), ...item } : (await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: eventsPk(event.model), sk: item.sk }, ConsistentRead: true }))).Item;
    if (typeof kept?.plant === 'string') await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...kept, pk: eventsPk(event.model, kept.plant) } }));
    return stored ? 'stored' : 'duplicate';
  }

  async recentEvents(model: string | undefined, limit: number, plant?: string): Promise<AlertEvent[]> {
    if (!model) return [];
    const nowSeconds = Math.floor((this.options.now?.() ?? Date.now()) / 1000);
    const events: AlertEvent[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: plant ? '#ttl > :now AND plant = :plant' : '#ttl > :now',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          // The plant's own partition; the filter on `plant` stays, as a second wall.
          ExpressionAttributeValues: { ':pk': eventsPk(model, plant), ':now': nowSeconds, ...(plant ? { ':plant': plant } : {}) },
          ScanIndexForward: false,
          Limit: limit,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, ttl: _ttl, ...event } = item;
        events.push(event as AlertEvent);
        if (events.length === limit) return events;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return events;
  }
}

/** The marker item saying every event has its plant's copy (written once the copy is done). */
const layoutKey = { pk: 'layout', sk: 'events-by-plant' };

/**
 * Gives every plant's event stored before plants had their own history partition its copy there, so the plant's
 * read shows it: one Scan of the table (pages of `pageSize`) and one conditional PutItem per such event, then the
 * marker item; undefined when the marker says it was done. Idempotent. The local twin runs it on start
 * (infra/local/seed.ts); a deployed table through infra/tools/backfill-alert-history.ts.
 */
export async function copyPlantEventsOnce(db: DynamoDBDocumentClient, tableName: string, pageSize = 500): Promise<{ scanned: number; copied: number } | undefined> {
  if ((await db.send(new GetCommand({ TableName: tableName, Key: layoutKey, ConsistentRead: true }))).Item) return undefined;
  let scanned = 0;
  let copied = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'begins_with(pk, :events) AND attribute_exists(plant)',
        ExpressionAttributeValues: { ':events': 'events#' },
        Limit: pageSize,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    scanned += page.ScannedCount ?? 0;
    for (const item of page.Items ?? []) {
      // The model's history only (`events#<model>`: a model name holds no '#'); a plant's copy is left alone.
      if (typeof item.pk !== 'string' || item.pk.indexOf('#') !== item.pk.lastIndexOf('#') || typeof item.plant !== 'string' || typeof item.model !== 'string') continue;
      const stored = await conditional(() =>
        db.send(new PutCommand({ TableName: tableName, Item: { ...item, pk: eventsPk(item.model as string, item.plant as string) }, ConditionExpression: 'attribute_not_exists(sk)' })),
      );
      if (stored) copied++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  await db.send(new PutCommand({ TableName: tableName, Item: layoutKey }));
  return { scanned, copied };
}

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertCapStore, CapWindowCounts } from '../core/ports.js';

/** The partition of owed summaries: written only by a window's first held-back alert, so never hot. */
const owedPk = 'cap-owed';
/** The partition listing which plant held alerts back in which window (platform principals' view); as rare. */
const heldPk = 'cap-held';

/**
 * The alert cap's counts in the AlertState table (pk, sk; TTL `ttl`). Per plant and window:
 * `pk = cap#<scope>`, `sk = <window start>`, with `sent` (a conditional ADD below the cap: atomic across
 * containers), `held` and `models` (a string set of the held-back alerts' models). A window that held alerts
 * back owes a summary: `pk = cap-owed`, `sk = <window start>#<scope>`, taken by one conditional delete; and is
 * listed for platform principals' GET /api/v1/alerts: `pk = cap-held`, `sk = <window start>#<scope>`, kept.
 */
export class DynamoDbAlertCapStore implements AlertCapStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private counts(scope: string, window: string) {
    return { pk: `cap#${scope}`, sk: window };
  }

  private owedKey(scope: string, window: string) {
    return { pk: owedPk, sk: `${window}#${scope}` };
  }

  async take(scope: string, window: string, cap: number, expires: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.counts(scope, window),
          UpdateExpression: 'ADD sent :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(sent) OR sent < :cap',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': 1, ':cap': cap, ':ttl': expires },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async hold(scope: string, window: string, model: string, expires: number): Promise<number> {
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.counts(scope, window),
        UpdateExpression: 'ADD held :one, models :model SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':one': 1, ':model': new Set([model]), ':ttl': expires },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.held ?? 0);
  }

  async owe(scope: string, window: string, expires: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.owedKey(scope, window),
        UpdateExpression: 'SET #scope = :scope, #window = :window, #ttl = :ttl',
        ExpressionAttributeNames: { '#scope': 'scope', '#window': 'window', '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':scope': scope, ':window': window, ':ttl': expires },
      }),
    );
  }

  async owed(before: string, limit: number): Promise<{ scope: string; window: string }[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk < :before',
        ExpressionAttributeValues: { ':pk': owedPk, ':before': before },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).filter((i) => typeof i.scope === 'string' && typeof i.window === 'string').map((i) => ({ scope: String(i.scope), window: String(i.window) }));
  }

  async settle(scope: string, window: string): Promise<{ sent: number; held: number; models: string[] } | undefined> {
    try {
      await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: this.owedKey(scope, window), ConditionExpression: 'attribute_exists(pk)' }));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: this.counts(scope, window), ConsistentRead: true }));
    const models = Item?.models instanceof Set ? [...(Item.models as Set<string>)].sort() : [];
    return { sent: Number(Item?.sent ?? 0), held: Number(Item?.held ?? 0), models };
  }

  async unsettle(scope: string, window: string, expires: number): Promise<void> {
    await this.owe(scope, window, expires);
  }

  async noteHeld(scope: string, window: string, expires: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: heldPk, sk: `${window}#${scope}` },
        UpdateExpression: 'SET #scope = :scope, #window = :window, #ttl = :ttl',
        ExpressionAttributeNames: { '#scope': 'scope', '#window': 'window', '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':scope': scope, ':window': window, ':ttl': expires },
      }),
    );
  }

  async windows(scope: string, from: string): Promise<CapWindowCounts[]> {
    const found: CapWindowCounts[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk >= :from',
          ExpressionAttributeValues: { ':pk': this.counts(scope, from).pk, ':from': from },
          ScanIndexForward: false,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const i of out.Items ?? []) {
        const models = i.models instanceof Set ? [...(i.models as Set<string>)].sort() : [];
        found.push({ window: String(i.sk), sent: Number(i.sent ?? 0), held: Number(i.held ?? 0), models, ttl: Number(i.ttl ?? 0) });
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return found;
  }

  async heldScopes(from: string, limit: number): Promise<{ scope: string; window: string }[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk >= :from',
        ExpressionAttributeValues: { ':pk': heldPk, ':from': from },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (Items ?? []).filter((i) => typeof i.scope === 'string' && typeof i.window === 'string').map((i) => ({ scope: String(i.scope), window: String(i.window) }));
  }
}

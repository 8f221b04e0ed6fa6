import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import type { ApiKeyRecord, ApiKeyStore } from '../core/ports.js';

const keyItemSchema = z.object({
  keyId: z.string(),
  hash: z.string(),
  owner: z.string(),
  plant: z.string().optional(),
  name: z.string(),
  scopes: z.array(z.string()),
  created: z.string(),
  expiresAt: z.string(),
  rateLimitPerMinute: z.number().optional(),
  lastUsed: z.string().optional(),
  revokedAt: z.string().optional(),
  previousHash: z.string().optional(),
  previousHashExpiresAt: z.string().optional(),
  rotatedAt: z.string().optional(),
});

function toRecord(item: Record<string, unknown>): ApiKeyRecord {
  const parsed = keyItemSchema.parse(item);
  return Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)) as unknown as ApiKeyRecord;
}

/** ApiKeys table: partition key `keyId`; index `byOwner` (owner, created). */
export class DynamoDbApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { keyId }, ConsistentRead: true }));
    return Item ? toRecord(Item) : undefined;
  }

  async create(record: ApiKeyRecord): Promise<boolean> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...record }, ConditionExpression: 'attribute_not_exists(keyId)' }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async listByOwner(owner: string): Promise<ApiKeyRecord[]> {
    const out: ApiKeyRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'byOwner',
          KeyConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) out.push(toRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  async listAll(): Promise<ApiKeyRecord[]> {
    const out: ApiKeyRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey, ConsistentRead: true }));
      for (const item of page.Items ?? []) out.push(toRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  private async conditionalUpdate(input: ConstructorParameters<typeof UpdateCommand>[0]): Promise<ApiKeyRecord | undefined> {
    try {
      const { Attributes } = await this.db.send(new UpdateCommand({ ...input, ReturnValues: 'ALL_NEW' }));
      return Attributes ? toRecord(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  revoke(keyId: string, at: string) {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: { keyId },
      UpdateExpression: 'SET revokedAt = if_not_exists(revokedAt, :at)',
      ConditionExpression: 'attribute_exists(keyId)',
      ExpressionAttributeValues: { ':at': at },
    });
  }

  rotate(keyId: string, expectedHash: string, change: { hash: string; previousHash: string; previousHashExpiresAt: string; rotatedAt: string }) {
    return this.conditionalUpdate({
      TableName: this.tableName,
      Key: { keyId },
      UpdateExpression: 'SET #hash = :hash, previousHash = :prev, previousHashExpiresAt = :prevExp, rotatedAt = :at',
      ConditionExpression: '#hash = :expected AND attribute_not_exists(revokedAt)',
      ExpressionAttributeNames: { '#hash': 'hash' },
      ExpressionAttributeValues: {
        ':hash': change.hash,
        ':prev': change.previousHash,
        ':prevExp': change.previousHashExpiresAt,
        ':at': change.rotatedAt,
        ':expected': expectedHash,
      },
    });
  }

  async touch(keyId: string, at: string): Promise<void> {
    await this.conditionalUpdate({
      TableName: this.tableName,
      Key: { keyId },
      UpdateExpression: 'SET lastUsed = :at',
      ConditionExpression: 'attribute_exists(keyId)',
      ExpressionAttributeValues: { ':at': at },
    });
  }
}

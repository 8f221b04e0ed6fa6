import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { roleSchema } from '../core/auth/roles.js';
import type { UserChanges, UserDirectory, UserRecord } from '../core/ports.js';

const userItemSchema = z.object({
  username: z.string(),
  passwordHash: z.string(),
  role: roleSchema,
  plant: z.string().optional(),
  active: z.boolean(),
  created: z.string(),
});

function toRecord(item: Record<string, unknown>): UserRecord {
  const parsed = userItemSchema.parse(item);
  const { plant, ...rest } = parsed;
  return plant ? { ...rest, plant } : rest;
}

/** Users table: partition key `username`. */
export class DynamoDbUserStore implements UserDirectory {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(username: string): Promise<UserRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { username }, ConsistentRead: true }));
    return Item ? toRecord(Item) : undefined;
  }

  async create(user: UserRecord): Promise<boolean> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...user }, ConditionExpression: 'attribute_not_exists(username)' }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async list(): Promise<UserRecord[]> {
    const users: UserRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey, ConsistentRead: true }));
      for (const item of page.Items ?? []) users.push(toRecord(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return users;
  }

  async update(username: string, changes: UserChanges, updated: string): Promise<UserRecord | undefined> {
    const sets = ['#updated = :updated'];
    const names: Record<string, string> = { '#updated': 'updated' };
    const values: Record<string, unknown> = { ':updated': updated };
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      sets.push(`#${field} = :${field}`);
      names[`#${field}`] = field;
      values[`:${field}`] = value;
    }
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { username },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(username)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toRecord(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

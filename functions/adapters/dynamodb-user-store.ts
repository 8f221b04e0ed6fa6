import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { roleSchema } from '../core/auth/roles.js';
import type { UserRecord, UserStore } from '../core/ports.js';

const userItemSchema = z.object({
  username: z.string(),
  passwordHash: z.string(),
  role: roleSchema,
  plant: z.string().optional(),
  active: z.boolean(),
  created: z.string(),
});

/** Users table: partition key `username`. */
export class DynamoDbUserStore implements UserStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(username: string): Promise<UserRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { username }, ConsistentRead: true }));
    if (!Item) return undefined;
    const parsed = userItemSchema.parse(Item);
    return { ...parsed, ...(parsed.plant ? { plant: parsed.plant } : {}) } as UserRecord;
  }

  async create(user: UserRecord): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...user },
          ConditionExpression: 'attribute_not_exists(username)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbUserStore } from '../../functions/adapters/dynamodb-user-store.js';
import { ensureKeyFile } from '../../functions/adapters/key-file-signing-keys.js';
import { S3ModelStore } from '../../functions/adapters/s3-model-store.js';
import type { Config } from '../../functions/config.js';
import { hashPassword } from '../../functions/core/auth/passwords.js';
import { compareSemver, parseManifestText, verifyPackage } from '../../functions/core/manifest.js';
import { tables, type TableDef } from '../tables.js';

/** Local names for the tables and bucket (CDK generates the AWS names). */
export function localTableName(table: TableDef): string {
  return `twinserve-${table.id.toLowerCase()}`;
}

function createTableInput(table: TableDef): CreateTableCommandInput {
  const attributes = new Set([table.partitionKey, table.sortKey, ...(table.globalIndexes ?? []).flatMap((g) => [g.partitionKey, g.sortKey])]);
  return {
    TableName: localTableName(table),
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].filter((a): a is string => !!a).map((a) => ({ AttributeName: a, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: table.partitionKey, KeyType: 'HASH' },
      ...(table.sortKey ? [{ AttributeName: table.sortKey, KeyType: 'RANGE' as const }] : []),
    ],
    ...(table.globalIndexes?.length
      ? {
          GlobalSecondaryIndexes: table.globalIndexes.map((g) => ({
            IndexName: g.name,
            KeySchema: [
              { AttributeName: g.partitionKey, KeyType: 'HASH' as const },
              ...(g.sortKey ? [{ AttributeName: g.sortKey, KeyType: 'RANGE' as const }] : []),
            ],
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
  };
}

export interface SeedResult {
  /** Set only when this start created the admin with a generated password (printed once). */
  generatedAdminPassword?: string;
  adminCreated: boolean;
  published: string[];
  keyFileCreated: boolean;
}

/**
 * First-start set-up, idempotent: tables, bucket, signing key, every package under `modelsDir` published
 * (and made active when its model has no routing yet), and the `admin` user.
 */
export async function seedLocal(config: Config, options: { modelsDir: string; adminPassword?: string }): Promise<SeedResult> {
  const dynamo = new DynamoDBClient({ region: config.region });
  const s3 = new S3Client({ region: config.region, forcePathStyle: true });
  try {
    for (const table of tables) {
      try {
        await dynamo.send(new DescribeTableCommand({ TableName: localTableName(table) }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
        await dynamo.send(new CreateTableCommand(createTableInput(table)));
      }
    }
    try {
      await s3.send(new HeadBucketCommand({ Bucket: config.modelBucket }));
    } catch {
      await s3.send(new CreateBucketCommand({ Bucket: config.modelBucket }));
    }
    const keyFileCreated = config.signing.kind === 'file' ? await ensureKeyFile(config.signing.path) : false;

    const store = new S3ModelStore(s3, config.modelBucket);
    const published: string[] = [];
    for (const name of await listDirs(options.modelsDir)) {
      const versions = (await listDirs(join(options.modelsDir, name))).sort(compareSemver);
      for (const version of versions) {
        const dir = join(options.modelsDir, name, version);
        const ref = `${name}@${version} (${dir})`;
        const manifestText = await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => undefined);
        if (manifestText === undefined) continue;
        const bytes = new Uint8Array(await readFile(join(dir, 'model.onnx')));
        const manifest = verifyPackage(ref, parseManifestText(ref, manifestText), bytes);
        if (await store.putPackage({ manifest, bytes })) published.push(`${name}@${version}`);
      }
      const latest = versions.at(-1);
      if (latest && !(await store.getRouting(name))) {
        await store.putRouting(name, { schemaVersion: 1, active: latest, updated: new Date().toISOString() });
      }
    }

    const users = new DynamoDbUserStore(DynamoDBDocumentClient.from(dynamo), config.usersTable);
    let generatedAdminPassword: string | undefined;
    let adminCreated = false;
    if (!(await users.get('admin'))) {
      const password = options.adminPassword ?? randomBytes(18).toString('base64url');
      adminCreated = await users.create({
        username: 'admin',
        passwordHash: await hashPassword(password),
        role: 'admin',
        active: true,
        created: new Date().toISOString(),
      });
      if (adminCreated && !options.adminPassword) generatedAdminPassword = password;
    }
    return { ...(generatedAdminPassword ? { generatedAdminPassword } : {}), adminCreated, published, keyFileCreated };
  } finally {
    dynamo.destroy();
    s3.destroy();
  }
}

async function listDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'tools').map((e) => e.name);
}

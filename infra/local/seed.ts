import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceNotFoundException, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withPlantSortKey } from '../../functions/adapters/dynamodb-prediction-log.js';
import { DynamoDbUserStore } from '../../functions/adapters/dynamodb-user-store.js';
import { ensureKeyFile } from '../../functions/adapters/key-file-signing-keys.js';
import { FileModelStore } from '../../functions/adapters/file-model-store.js';
import { S3ModelStore } from '../../functions/adapters/s3-model-store.js';
import type { Config } from '../../functions/config.js';
import { hashPassword } from '../../functions/core/auth/passwords.js';
import { ModelInvalidError } from '../../functions/core/errors.js';
import { compareSemver, parseManifestText, verifyPackage } from '../../functions/core/manifest.js';
import type { ModelPackage, ModelStore } from '../../functions/core/ports.js';
import { tables, type TableDef } from '../tables.js';
import { rebuildIfIndexesChanged } from './rebuild-table.js';

/** Local names for the tables and bucket (CDK generates the AWS names). */
export function localTableName(table: TableDef): string {
  return `twinserve-${table.id.toLowerCase()}`;
}

/** The CreateTable input of one table of infra/tables.ts, as the data stack declares it (every key a string, on-demand). */
export function createTableInput(table: TableDef): CreateTableCommandInput {
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
            Projection: g.include ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: g.include } : { ProjectionType: g.keysOnly ? ('KEYS_ONLY' as const) : ('ALL' as const) },
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
export interface SeedOptions {
  /** Publish every package found under this tree (`<name>/<version>/`); made active where a model has no routing. */
  modelsDir?: string;
  /** Edge: publish exactly these package directories and make each the active version of its model. */
  edgePackageDirs?: string[];
  adminPassword?: string;
  /** The local twin's data dir: where a table whose indexes changed is copied while it is rebuilt. */
  dataDir?: string;
}

/** Reads and verifies one package directory (manifest schema and digest); throws naming it. */
export async function readPackageDir(dir: string): Promise<ModelPackage> {
  const ref = dir;
  const manifestText = await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => {
    throw new ModelInvalidError(ref, 'manifest.json is missing');
  });
  const bytes = new Uint8Array(
    await readFile(join(dir, 'model.onnx')).catch(() => {
      throw new ModelInvalidError(ref, 'model.onnx is missing');
    }),
  );
  return { manifest: verifyPackage(ref, parseManifestText(ref, manifestText), bytes), bytes };
}

export async function seedLocal(config: Config, options: SeedOptions): Promise<SeedResult> {
  const dynamo = new DynamoDBClient({ region: config.region });
  const s3 = new S3Client({ region: config.region, forcePathStyle: true });
  try {
    for (const table of tables) {
      const name = localTableName(table);
      const create = async () => void (await dynamo.send(new CreateTableCommand(createTableInput(table))));
      const exists = await dynamo.send(new DescribeTableCommand({ TableName: name })).then(
        () => true,
        (error: unknown) => (error instanceof ResourceNotFoundException ? false : Promise.reject(error)),
      );
      const interrupted = !!options.dataDir && existsSync(join(options.dataDir, `rebuilding-${name}.json`));
      if (!exists && !interrupted) await create();
      // A data dir from before an index changed (Predictions' byModelTime became byModelPlantTime): the table is
      // rebuilt as declared with every item kept, or a rebuild a stop interrupted is finished (./rebuild-table.ts).
      else if (options.dataDir) await rebuildIfIndexesChanged(dynamo, table, name, create, options.dataDir, table.id === 'Predictions' ? withPlantSortKey : undefined);
    }
    let store: ModelStore;
    if (config.models.kind === 's3') {
      const bucket = config.models.bucket;
      try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }));
      } catch {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      }
      store = new S3ModelStore(s3, bucket);
    } else {
      store = new FileModelStore(config.models.path);
    }
    const keyFileCreated = config.signing.kind === 'file' ? await ensureKeyFile(config.signing.path) : false;

    const published: string[] = [];
    const publish = async (pkg: ModelPackage) => {
      if (await store.putPackage(pkg)) published.push(`${pkg.manifest.name}@${pkg.manifest.version}`);
      else {
        // A version is immutable: the same version with other bytes is refused, never overwritten.
        const existing = await store.getPackage(pkg.manifest.name, pkg.manifest.version);
        if (existing.manifest.sha256 !== pkg.manifest.sha256) {
          throw new ModelInvalidError(`${pkg.manifest.name}@${pkg.manifest.version}`, 'a different package with this version is already published');
        }
      }
    };
    for (const dir of options.edgePackageDirs ?? []) {
      const pkg = await readPackageDir(dir);
      await publish(pkg);
      const current = await store.getRouting(pkg.manifest.name);
      if (current?.active !== pkg.manifest.version || current.variants) {
        const history = [...(current?.history ?? []), ...(current ? [current.active] : [])].slice(-20);
        await store.putRouting(pkg.manifest.name, { schemaVersion: 1, active: pkg.manifest.version, updated: new Date().toISOString(), history });
      }
    }
    if (options.modelsDir) {
      for (const name of await listDirs(options.modelsDir)) {
        const versions = (await listDirs(join(options.modelsDir, name))).sort(compareSemver);
        for (const version of versions) {
          const dir = join(options.modelsDir, name, version);
          if (!(await readFile(join(dir, 'manifest.json')).then(() => true, () => false))) continue;
          await publish(await readPackageDir(dir));
        }
        const latest = versions.at(-1);
        if (latest && !(await store.getRouting(name))) {
          await store.putRouting(name, { schemaVersion: 1, active: latest, updated: new Date().toISOString() });
        }
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

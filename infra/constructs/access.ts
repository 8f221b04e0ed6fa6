import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { FunctionDef } from '../functions.js';
import type { TableDef } from '../tables.js';

/**
 * The IAM actions behind the S3, KMS and SNS access levels of infra/functions.ts (DynamoDB actions are listed
 * there per table). They are the calls the adapters in functions/adapters/ make (GetObject, HeadObject,
 * ListObjectsV2; PutObject; Sign, GetPublicKey; Publish) and no more. test/infra/bundles.test.ts records the
 * SDK commands every function sends and fails on a grant that is missing or unused.
 */
export const accessActions = {
  bucket: {
    // ListBucket also lets S3 answer 404 (not 403) for a missing key, which the model store relies on.
    list: ['s3:ListBucket'],
    // GetObject also covers HeadObject.
    read: ['s3:GetObject'],
    write: ['s3:PutObject'],
  },
  signingKey: {
    sign: ['kms:Sign'],
    public: ['kms:GetPublicKey'],
  },
  alerts: ['sns:Publish'],
} as const;

/** The S3 prefix model packages and routing live under (functions/adapters/s3-model-store.ts). */
export const modelKeyPrefix = 'models/';
/** Where large model.onnx files are uploaded through presigned URLs before a publish names them. */
export const uploadKeyPrefix = 'uploads/';

export interface PlatformResources {
  /** The table definitions (infra/tables.ts) and their tables, by TableDef id. */
  tableDefs: readonly TableDef[];
  tables: ReadonlyMap<string, ITable>;
  /** The key that signs new tokens. */
  activeSigningKey: IKey;
  /** Every key published in the JWKS (the active one included). */
  publishedSigningKeys: readonly IKey[];
  alertsTopic: ITopic;
}

/**
 * The inline statements a function's role needs, derived from its entry in infra/functions.ts and nothing
 * else; every resource is one specific ARN. Model bucket access is a managed policy of the data stack
 * ({@link modelBucketStatements}), attached to the functions whose `modelBucket` names its level.
 */
export function accessStatements(def: FunctionDef, resources: PlatformResources): PolicyStatement[] {
  const statements: PolicyStatement[] = [];

  for (const [id, access] of Object.entries(def.tables)) {
    if (access === undefined) continue;
    const table = resources.tables.get(id);
    const tableDef = resources.tableDefs.find((t) => t.id === id);
    if (!table || !tableDef) {
      throw new Error(`functionDefs.${def.name}.tables.${id}: no table "${id}" in infra/tables.ts`);
    }
    const itemActions = [...new Set(access)].filter((a) => !a.startsWith('Query')).sort();
    if (itemActions.length) statements.push(new PolicyStatement({ actions: itemActions.map((a) => `dynamodb:${a}`), resources: [table.tableArn] }));
    // Queries name the table itself (`Query`) or each index by name (`Query:<index>`), never `index/*`.
    const queried = access.filter((a) => a.startsWith('Query')).map((a) => {
      const index = a.slice('Query:'.length);
      if (a === 'Query') return table.tableArn;
      if (!(tableDef.globalIndexes ?? []).some((gsi) => gsi.name === index)) {
        throw new Error(`functionDefs.${def.name}.tables.${id}: ${a} names no index of ${id} in infra/tables.ts`);
      }
      return `${table.tableArn}/index/${index}`;
    });
    if (queried.length) statements.push(new PolicyStatement({ actions: ['dynamodb:Query'], resources: queried }));
  }

  if (def.signingKey === 'sign') {
    statements.push(new PolicyStatement({ actions: [...accessActions.signingKey.sign], resources: [resources.activeSigningKey.keyArn] }));
  }
  if (def.signingKey === 'public') {
    statements.push(
      new PolicyStatement({ actions: [...accessActions.signingKey.public], resources: resources.publishedSigningKeys.map((k) => k.keyArn) }),
    );
  }

  if (def.alerts) {
    statements.push(new PolicyStatement({ actions: [...accessActions.alerts], resources: [resources.alertsTopic.topicArn] }));
  }
  return statements;
}

/**
 * Model bucket access at one level of infra/functions.ts `modelBucket`. Object actions need object ARNs, so
 * this is the one wildcard resource: the `models/` prefix the model store uses.
 */
export function modelBucketStatements(bucket: IBucket, level: 'read' | 'readwrite'): PolicyStatement[] {
  const objectActions = level === 'readwrite' ? [...accessActions.bucket.read, ...accessActions.bucket.write] : [...accessActions.bucket.read];
  return [
    new PolicyStatement({ actions: [...accessActions.bucket.list], resources: [bucket.bucketArn] }),
    new PolicyStatement({ actions: objectActions, resources: [bucket.arnForObjects(`${modelKeyPrefix}*`)] }),
    // Publishers presign uploads (a PUT under their credentials) and read them back to publish.
    ...(level === 'readwrite'
      ? [new PolicyStatement({ actions: [...accessActions.bucket.read, ...accessActions.bucket.write], resources: [bucket.arnForObjects(`${uploadKeyPrefix}*`)] })]
      : []),
  ];
}

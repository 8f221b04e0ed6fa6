import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { ManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { Alias, Key, KeySpec, KeyUsage, type IKey } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { modelBucketStatements, modelKeyPrefix, uploadKeyPrefix } from '../constructs/access.js';
import type { TwinEnvironment } from '../environments.js';
import { functionDefs, type FunctionDef } from '../functions.js';
import { formerPredictionsIndex, tables as tableDefs, type TableDef } from '../tables.js';

export interface DataStackProps extends StackProps {
  readonly environment: TwinEnvironment;
}

export type SigningKeyName = 'A' | 'B';

/**
 * State, and what holds it: the DynamoDB tables of infra/tables.ts, the model bucket (and its access-log
 * bucket), the two token-signing keys and the anomaly-alert topic. With `removalPolicy: retain` (prod) all
 * of it outlives the stack and tables refuse deletion.
 *
 * Encryption choices:
 * - Tables: AWS managed key (aws/dynamodb). Encrypted at rest with a key in the account and every use in
 *   CloudTrail; who may read is decided by the table grants, and a customer managed key would only add
 *   kms:Decrypt to the very roles that can already read the table, plus a key to administer and pay for.
 * - Buckets: SSE-S3. Model packages are integrity-critical, not secret (each manifest pins the SHA-256 of
 *   its model, verified at load); S3 server access logging only delivers into SSE-S3 buckets.
 * - Alerts topic: AWS managed key (aws/sns). Only our functions publish (their roles name the topic); AWS
 *   services that would need a key policy (CloudWatch) publish to the ops topic, which has its own key.
 * - Signing keys: KMS asymmetric RSA_2048 SIGN_VERIFY; the private key never leaves KMS.
 */
export class DataStack extends Stack {
  /** By TableDef id. */
  readonly tables: ReadonlyMap<string, Table>;
  readonly modelBucket: Bucket;
  /** Model bucket access per level of infra/functions.ts `modelBucket` (only the levels some function uses). */
  readonly modelBucketPolicies: ReadonlyMap<NonNullable<FunctionDef['modelBucket']>, ManagedPolicy>;
  readonly accessLogsBucket: Bucket;
  readonly signingKeys: Readonly<Record<SigningKeyName, Key>>;
  /** The key that signs new tokens (`signing.activeKey`). */
  readonly activeSigningKey: IKey;
  /** Both keys, the active one first: the order of `TWIN_SIGNING_KMS_KEY_IDS`. */
  readonly publishedSigningKeys: readonly IKey[];
  readonly alertsTopic: Topic;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { config } = props.environment;
    const retain = config.removalPolicy === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const tables = new Map<string, Table>();
    for (const def of tableDefs) {
      // The transition deploy adds the plant-keyed index and keeps the former one (one index change per update).
      const kept = def.id === 'Predictions' && config.transitions.keepFormerPredictionsIndex ? { ...def, globalIndexes: [...(def.globalIndexes ?? []), { ...formerPredictionsIndex, include: [...formerPredictionsIndex.include] }] } : def;
      tables.set(def.id, this.createTable(kept, removalPolicy, retain));
    }
    this.tables = tables;

    this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(config.retention.auditDays) }],
      removalPolicy,
      autoDeleteObjects: !retain,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions::AwsSolutions-S1',
      reason: 'This bucket is the server-access-log target of the model bucket; logging it into itself would log its own log deliveries.',
    });

    this.modelBucket = new Bucket(this, 'ModelBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      versioned: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'model-bucket/',
      lifecycleRules: [
        // Packages are immutable; only routing.json is overwritten. Keep a year of its history.
        { noncurrentVersionExpiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // Uploads are copied into a package by the publish call (or abandoned): gone after a day, versions too.
        { prefix: uploadKeyPrefix, expiration: Duration.days(1), noncurrentVersionExpiration: Duration.days(1) },
      ],
      removalPolicy,
      autoDeleteObjects: !retain,
    });

    // Managed policies here, next to the bucket, so the one wildcard (`models/*`) is acknowledged by name.
    const bucketLogicalId = this.getLogicalId(this.modelBucket.node.defaultChild as CfnBucket);
    const policies = new Map<NonNullable<FunctionDef['modelBucket']>, ManagedPolicy>();
    for (const level of new Set(Object.values(functionDefs).map((def) => def.modelBucket))) {
      if (!level) continue;
      const policy = new ManagedPolicy(this, level === 'read' ? 'ModelBucketRead' : 'ModelBucketReadWrite', {
        description: `Twinserve ${props.environment.name}: model packages, ${level === 'read' ? 'read' : 'read and publish'}`,
        statements: modelBucketStatements(this.modelBucket, level),
      });
      Validations.of(policy).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${modelKeyPrefix}*]`,
        reason: `S3 object actions take object ARNs; access is limited to the ${modelKeyPrefix} prefix where model packages and routing live.`,
      });
      if (level === 'readwrite') {
        Validations.of(policy).acknowledge({
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${uploadKeyPrefix}*]`,
          reason: `Presigned uploads of large model.onnx files land under ${uploadKeyPrefix} (random ids, expired after a day); nothing else is reachable.`,
        });
      }
      policies.set(level, policy);
    }
    this.modelBucketPolicies = policies;

    // Two keys so a rotation can overlap: the active one signs, both are published (docs/deploy.md).
    // A new generation is a new construct id, so a new KMS key; the old one follows the removal policy.
    const signingKey = (name: SigningKeyName) => {
      const generation = config.signing.generations[name];
      return new Key(this, generation === 1 ? `SigningKey${name}` : `SigningKey${name}Gen${generation}`, {
        description: `Twinserve ${props.environment.name} token signing key ${name}, generation ${generation} (RS256)`,
        keySpec: KeySpec.RSA_2048,
        keyUsage: KeyUsage.SIGN_VERIFY,
        removalPolicy,
        pendingWindow: Duration.days(retain ? 30 : 7),
      });
    };
    this.signingKeys = { A: signingKey('A'), B: signingKey('B') };
    const active = config.signing.activeKey;
    const inactive: SigningKeyName = active === 'A' ? 'B' : 'A';
    this.activeSigningKey = this.signingKeys[active];
    this.publishedSigningKeys = [this.signingKeys[active], this.signingKeys[inactive]];

    this.alertsTopic = new Topic(this, 'AlertsTopic', {
      displayName: `Twinserve ${props.environment.name} anomaly alerts`,
      masterKey: Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
      enforceSSL: true,
      signatureVersion: '2',
    });
    for (const email of config.alerts.emails) this.alertsTopic.addSubscription(new EmailSubscription(email));

    for (const [tableId, table] of tables) {
      new CfnOutput(this, `${tableId}TableName`, { value: table.tableName, description: `DynamoDB table ${tableId}` });
    }
    new CfnOutput(this, 'ModelBucketName', { value: this.modelBucket.bucketName, description: 'Model packages: models/<name>/<version>/' });
    new CfnOutput(this, 'AlertsTopicArn', { value: this.alertsTopic.topicArn, description: 'Anomaly alerts (subscribe here)' });
    for (const name of ['A', 'B'] as const) {
      new CfnOutput(this, `SigningKey${name}Arn`, {
        value: this.signingKeys[name].keyArn,
        description: `Token signing key ${name}${name === active ? ' (active)' : ''}`,
      });
    }
  }

  private createTable(def: TableDef, removalPolicy: RemovalPolicy, retain: boolean): Table {
    const key = (name: string) => ({ name, type: AttributeType.STRING });
    const table = new Table(this, def.id, {
      partitionKey: key(def.partitionKey),
      ...(def.sortKey ? { sortKey: key(def.sortKey) } : {}),
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      ...(def.ttlAttribute ? { timeToLiveAttribute: def.ttlAttribute } : {}),
      deletionProtection: retain,
      removalPolicy,
    });
    for (const index of def.globalIndexes ?? []) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: key(index.partitionKey),
        ...(index.sortKey ? { sortKey: key(index.sortKey) } : {}),
        ...(index.include ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: index.include } : { projectionType: index.keysOnly ? ProjectionType.KEYS_ONLY : ProjectionType.ALL }),
      });
    }
    return table;
  }
}

import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envNames, loadConfig } from '../../functions/config.js';
import { metricNames, metricsNamespace } from '../../functions/observability.js';
import type { EnvironmentConfig } from '../../infra/environments.js';
import { functionDefs, type FunctionDef } from '../../infra/functions.js';
import { functionNames, routeKey, routes, type FunctionName } from '../../functions/routes.js';
import { functionConstructId } from '../../infra/stacks/api-stack.js';
import { tables } from '../../infra/tables.js';
import { cdkJsonContext, describeValue, pathOf, resourcesOfType, synthesize, type CfnTemplate, type Synthesized } from '../support/cdk.js';

/**
 * Template tests of the CDK stacks, one synthesis per environment (bundling skipped: bundles.test.ts covers
 * the bundles). Everything is checked by iterating the contracts (functions/routes.ts, infra/functions.ts,
 * infra/tables.ts, functions/config.ts), so new routes, functions and tables are covered without new tests.
 */

type Resource = CfnTemplate['Resources'][string];
type Json = Record<string, any>;

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing: ${what}`);
  return value;
}

/** Views over one synthesized environment. */
class Deployment {
  readonly config: EnvironmentConfig;
  readonly stacks: { data: string; api: string; ops: string };
  readonly all: Record<string, CfnTemplate>;

  constructor(readonly synth: Synthesized) {
    this.config = synth.twinserve.environment.config;
    this.stacks = { data: synth.twinserve.data.stackName, api: synth.twinserve.api.stackName, ops: synth.twinserve.ops.stackName };
    this.all = { [this.stacks.data]: synth.templates.data, [this.stacks.api]: synth.templates.api, [this.stacks.ops]: synth.templates.ops };
  }

  get api() {
    return this.synth.templates.api;
  }
  get data() {
    return this.synth.templates.data;
  }
  get ops() {
    return this.synth.templates.ops;
  }

  /** The resource at `<stack>/<path>/Resource`. */
  at(template: CfnTemplate, stack: string, path: string): [string, Resource] {
    const found = Object.entries(template.Resources).find(([, r]) => pathOf(r) === `${stack}/${path}/Resource`);
    return must(found, `${stack}/${path}`);
  }

  describe(value: unknown, stack: string): string {
    return describeValue(value, stack, this.all);
  }

  fn(name: FunctionName): Json {
    return must(this.at(this.api, this.stacks.api, `${functionConstructId(name)}/Function`)[1].Properties, name);
  }

  /** Every `action resource` pair the function's role is allowed, inline and through managed policies. */
  permissions(name: FunctionName): Set<string> {
    const cid = functionConstructId(name);
    const pairs = new Set<string>();
    const add = (statements: Json[], stack: string) => {
      for (const statement of statements) {
        expect(statement.Effect).toBe('Allow');
        for (const action of [statement.Action].flat()) {
          for (const resource of [statement.Resource].flat()) pairs.add(`${action} ${this.describe(resource, stack)}`);
        }
      }
    };
    const [, policy] = this.at(this.api, this.stacks.api, `${cid}/Role/DefaultPolicy`);
    add(must(policy.Properties, 'policy').PolicyDocument.Statement, this.stacks.api);
    const [, role] = this.at(this.api, this.stacks.api, `${cid}/Role`);
    expect(role.Properties?.Policies).toBeUndefined();
    for (const arn of (role.Properties?.ManagedPolicyArns ?? []) as unknown[]) {
      const managed = this.describe(arn, this.stacks.api).replace(/^<|>$/g, '');
      const [, resource] = this.at(this.data, this.stacks.data, managed);
      expect(resource.Type).toBe('AWS::IAM::ManagedPolicy');
      add(must(resource.Properties, 'managed policy').PolicyDocument.Statement, this.stacks.data);
    }
    return pairs;
  }
}

/** What infra/functions.ts says a function may do, as `action resource` pairs (independent of infra/constructs/access.ts). */
function expectedPermissions(def: FunctionDef, activeKey: 'A' | 'B'): Set<string> {
  const cid = functionConstructId(def.name);
  const pairs = new Set([`logs:CreateLogStream <${cid}/Logs>`, `logs:PutLogEvents <${cid}/Logs>`, 'xray:PutTraceSegments *', 'xray:PutTelemetryRecords *']);
  for (const [id, access] of Object.entries(def.tables)) {
    const table = must(
      tables.find((t) => t.id === id),
      `table ${id}`,
    );
    for (const action of access ?? []) {
      const [name, index] = action.split(':');
      if (index) expect(table.globalIndexes?.map((g) => g.name)).toContain(index);
      pairs.add(index ? `dynamodb:${name} <${id}>/index/${index}` : `dynamodb:${action} <${id}>`);
    }
  }
  if (def.modelBucket) {
    pairs.add('s3:ListBucket <ModelBucket>');
    pairs.add('s3:GetObject <ModelBucket>/models/*');
    if (def.modelBucket === 'readwrite') {
      pairs.add('s3:PutObject <ModelBucket>/models/*');
      pairs.add('s3:GetObject <ModelBucket>/uploads/*');
      pairs.add('s3:PutObject <ModelBucket>/uploads/*');
    }
  }
  if (def.signingKey === 'sign') pairs.add(`kms:Sign <SigningKey${activeKey}>`);
  if (def.signingKey === 'public') {
    pairs.add('kms:GetPublicKey <SigningKeyA>');
    pairs.add('kms:GetPublicKey <SigningKeyB>');
  }
  if (def.alerts) pairs.add('sns:Publish <AlertsTopic>');
  return pairs;
}

const environments = ['dev', 'prod'] as const;
const deployments = new Map<string, Deployment>();

// Synthesis takes seconds, more on a busy machine.
const synthTimeout = 180_000;

beforeAll(() => {
  for (const name of environments) deployments.set(name, new Deployment(synthesize(name)));
}, synthTimeout);
afterAll(() => {
  for (const d of deployments.values()) d.synth.dispose();
});

describe.each(environments)('%s', (environmentName) => {
  const d = () => must(deployments.get(environmentName), environmentName);

  it('names its stacks after the environment', () => {
    expect(d().stacks).toEqual({ data: `Twinserve-${environmentName}-Data`, api: `Twinserve-${environmentName}-Api`, ops: `Twinserve-${environmentName}-Ops` });
  });

  describe('cdk-nag (AwsSolutions)', () => {
    it('has no unacknowledged finding', () => {
      const report = must(d().synth.report, 'validation report');
      for (const plugin of report.pluginReports) expect(plugin.violations, plugin.pluginName).toEqual([]);
    });

    it('gives every acknowledgement its own reason', () => {
      const acknowledged = must(d().synth.report, 'validation report').pluginReports.flatMap((p) => p.suppressedViolations ?? []);
      expect(acknowledged.length).toBeGreaterThan(0);
      for (const ack of acknowledged) {
        expect(ack.acknowledgedId).toMatch(/^AwsSolutions::AwsSolutions-/);
        expect(ack.reason?.length ?? 0, ack.acknowledgedId).toBeGreaterThan(40);
      }
    });

    it('acknowledges APIG4 (no authorization) on exactly the public routes of the route table', () => {
      const acknowledged = must(d().synth.report, 'validation report')
        .pluginReports.flatMap((p) => p.suppressedViolations ?? [])
        .filter((a) => a.ruleName === 'AwsSolutions-APIG4')
        .flatMap((a) => a.violatingConstructs.map((c) => c.constructPath));
      const routeKeys = acknowledged.map((path) => {
        const [, route] = must(
          Object.entries(d().api.Resources).find(([, r]) => pathOf(r) === path),
          path,
        );
        return route.Properties?.RouteKey as string;
      });
      expect(routeKeys.sort()).toEqual(routes.filter((r) => r.auth === 'public').map(routeKey).sort());
    });
  });

  describe('API', () => {
    it('has exactly the routes of functions/routes.ts, each with its authorizer, scopes and function', () => {
      const api = d().api;
      const byKey = new Map(resourcesOfType(api, 'AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties?.RouteKey as string, must(r.Properties, 'route')]));
      expect([...byKey.keys()].sort()).toEqual(routes.map(routeKey).sort());
      const [authorizerId] = must(resourcesOfType(api, 'AWS::ApiGatewayV2::Authorizer')[0], 'authorizer');
      for (const route of routes) {
        const props = must(byKey.get(routeKey(route)), routeKey(route));
        if (route.auth === 'public') {
          expect(props.AuthorizationType, routeKey(route)).toBe('NONE');
          expect(props.AuthorizerId).toBeUndefined();
          expect(props.AuthorizationScopes).toBeUndefined();
        } else {
          expect(props.AuthorizationType, routeKey(route)).toBe('JWT');
          expect(props.AuthorizerId).toEqual({ Ref: authorizerId });
          expect([...props.AuthorizationScopes].sort()).toEqual([...route.auth.scopes].sort());
        }
        const integrationId = must((props.Target as Json)['Fn::Join'][1][1].Ref as string | undefined, 'integration');
        const integration = must(api.Resources[integrationId]?.Properties, integrationId);
        expect(d().describe(integration.IntegrationUri, d().stacks.api), routeKey(route)).toBe(`<${functionConstructId(route.function)}/Live>`);
      }
    });

    it('has a JWT authorizer whose issuer is the API itself and whose audience is the environment', () => {
      const [, authorizer] = must(resourcesOfType(d().api, 'AWS::ApiGatewayV2::Authorizer')[0], 'authorizer');
      const [apiId] = must(resourcesOfType(d().api, 'AWS::ApiGatewayV2::Api')[0], 'api');
      expect(authorizer.Properties).toMatchObject({
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: { 'Fn::GetAtt': [apiId, 'ApiEndpoint'] }, Audience: [`twinserve-${environmentName}`] },
      });
      for (const name of functionNames) {
        const variables = d().fn(name).Environment.Variables;
        expect(variables[envNames.issuer], name).toEqual(authorizer.Properties?.JwtConfiguration.Issuer);
        expect(variables[envNames.audience], name).toBe(`twinserve-${environmentName}`);
      }
    });

    it('serves the $default stage with throttling and JSON access logs', () => {
      const [, stage] = must(resourcesOfType(d().api, 'AWS::ApiGatewayV2::Stage')[0], 'stage');
      const props = must(stage.Properties, 'stage');
      expect(props.StageName).toBe('$default');
      expect(props.AutoDeploy).toBe(true);
      expect(props.DefaultRouteSettings).toEqual({
        ThrottlingRateLimit: d().config.api.throttle.rateLimit,
        ThrottlingBurstLimit: d().config.api.throttle.burstLimit,
      });
      const format = JSON.parse(props.AccessLogSettings.Format as string) as Record<string, string>;
      expect(format).toMatchObject({ requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status' });
      expect(d().describe(props.AccessLogSettings.DestinationArn, d().stacks.api)).toBe('<AccessLogs>');
      expect(resourcesOfType(d().api, 'AWS::ApiGatewayV2::Stage')).toHaveLength(1);
    });

    it('answers CORS preflights for the configured origins only', () => {
      const [, api] = must(resourcesOfType(d().api, 'AWS::ApiGatewayV2::Api')[0], 'api');
      const origins = d().config.api.corsOrigins;
      if (origins.length) {
        expect(api.Properties?.CorsConfiguration.AllowOrigins).toEqual(origins);
        expect([...api.Properties?.CorsConfiguration.AllowMethods].sort()).toEqual([...new Set(routes.map((r) => r.method))].sort());
      } else {
        expect(api.Properties?.CorsConfiguration).toBeUndefined();
      }
    });
  });

  describe('functions', () => {
    it.each(functionNames)('%s: Node 22, its own log group with retention, JSON logs, tracing, architecture and memory from config', (name) => {
      const props = d().fn(name);
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Handler).toBe('index.handler');
      expect(props.TracingConfig).toEqual({ Mode: 'Active' });
      expect(props.Architectures).toEqual([d().config.architecture]);
      expect(props.MemorySize).toBe(d().config.functions.memoryMb[name] ?? functionDefs[name].memoryMb ?? 512);
      expect(props.LoggingConfig.LogFormat).toBe('JSON');
      expect(d().describe(props.LoggingConfig.LogGroup, d().stacks.api)).toBe(`<${functionConstructId(name)}/Logs>`);
      const [, logGroup] = d().at(d().api, d().stacks.api, `${functionConstructId(name)}/Logs`);
      expect(logGroup.Properties?.RetentionInDays).toBe(d().config.retention.logDays);
    });

    it.each(functionNames)('%s: carries the onnxruntime layer if and only if it infers', (name) => {
      const layers = d().fn(name).Layers as unknown[] | undefined;
      if (functionDefs[name].inference) expect(layers?.map((l) => d().describe(l, d().stacks.api))).toEqual(['<OnnxRuntimeLayer>']);
      else expect(layers ?? []).toEqual([]);
    });

    it('builds one layer, for the configured architecture', () => {
      const layers = resourcesOfType(d().api, 'AWS::Lambda::LayerVersion');
      expect(layers).toHaveLength(Object.values(functionDefs).some((f) => f.inference) ? 1 : 0);
      for (const [, layer] of layers) {
        expect(layer.Properties?.CompatibleArchitectures).toEqual([d().config.architecture]);
        expect(layer.Properties?.CompatibleRuntimes).toEqual(['nodejs22.x']);
      }
    });

    it.each(functionNames)('%s: its environment satisfies the functions\' own config schema', (name) => {
      const variables = d().fn(name).Environment.Variables as Record<string, unknown>;
      for (const table of tables) expect(variables[table.env], table.env).toBeDefined();
      expect(variables[envNames.metricsNamespace]).toBe(metricsNamespace(environmentName));
      expect(envNames.alertsTopicArn in variables).toBe(functionDefs[name].alerts === true);
      // onnxruntime's telemetry is off from the first instruction (functions/core/twin/no-telemetry.ts).
      expect(variables.ORT_DISABLE_TELEMETRY).toBe('1');
      // Values CloudFormation fills in at deploy time are replaced by well-formed stand-ins.
      const env = Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : key === envNames.issuer ? 'https://abc123.execute-api.eu-west-1.amazonaws.com' : 'arn:aws:kms:eu-west-1:123456789012:key/x',
        ]),
      );
      const config = loadConfig(env);
      expect(config.environment).toBe(environmentName);
      expect(config.signing.kind).toBe('kms');
    });

    it.each(functionNames)('%s: lists the active signing key first', (name) => {
      const ids = d().describe(d().fn(name).Environment.Variables[envNames.signingKmsKeyIds], d().stacks.api);
      const active = d().config.signing.activeKey;
      expect(ids).toBe(`<SigningKey${active}>,<SigningKey${active === 'A' ? 'B' : 'A'}>`);
    });

    it.each(functionNames)('%s: its role allows exactly what infra/functions.ts grants', (name) => {
      expect([...d().permissions(name)].sort()).toEqual([...expectedPermissions(functionDefs[name], d().config.signing.activeKey)].sort());
    });

    it.each(functionNames)('%s: no wildcard resource except X-Ray (AWS demands "*"), the models/ prefix and (publishers) uploads/', (name) => {
      for (const pair of d().permissions(name)) {
        const [action, resource] = pair.split(' ') as [string, string];
        expect(action).not.toContain('*');
        if (!resource.includes('*')) continue;
        if (resource === '*') expect(action).toMatch(/^xray:/);
        else expect(resource).toMatch(functionDefs[name].modelBucket === 'readwrite' ? /^<ModelBucket>\/(models|uploads)\/\*$/ : /^<ModelBucket>\/models\/\*$/);
      }
    });

    it('ships without provisioned concurrency: it is opt-in (new accounts lack the concurrency quota, docs/deploy.md)', () => {
      expect(d().config.functions.provisionedConcurrency).toEqual({});
      for (const [, alias] of resourcesOfType(d().api, 'AWS::Lambda::Alias')) expect(alias.Properties?.ProvisionedConcurrencyConfig).toBeUndefined();
    });

    it.each(functionNames)('%s: is invoked through its live alias, with provisioned concurrency where configured', (name) => {
      const [, alias] = d().at(d().api, d().stacks.api, `${functionConstructId(name)}/Live`);
      expect(alias.Properties?.Name).toBe('live');
      const concurrency = d().config.functions.provisionedConcurrency[name];
      if (concurrency) expect(alias.Properties?.ProvisionedConcurrencyConfig).toEqual({ ProvisionedConcurrentExecutions: concurrency });
      else expect(alias.Properties?.ProvisionedConcurrencyConfig).toBeUndefined();
    });
  });

  describe('data', () => {
    it.each(tables.map((t) => [t.id, t] as const))('table %s: keys, TTL, indexes, on demand, PITR, encryption', (id, def) => {
      const [, table] = d().at(d().data, d().stacks.data, id);
      const props = must(table.Properties, id);
      expect(props.KeySchema).toEqual([
        { AttributeName: def.partitionKey, KeyType: 'HASH' },
        ...(def.sortKey ? [{ AttributeName: def.sortKey, KeyType: 'RANGE' }] : []),
      ]);
      expect(props.TimeToLiveSpecification).toEqual(def.ttlAttribute ? { AttributeName: def.ttlAttribute, Enabled: true } : undefined);
      expect((props.GlobalSecondaryIndexes ?? []).map((g: Json) => ({ name: g.IndexName, keys: g.KeySchema, projection: g.Projection }))).toEqual(
        (def.globalIndexes ?? []).map((g) => ({
          name: g.name,
          keys: [{ AttributeName: g.partitionKey, KeyType: 'HASH' }, ...(g.sortKey ? [{ AttributeName: g.sortKey, KeyType: 'RANGE' }] : [])],
          projection: g.include ? { ProjectionType: 'INCLUDE', NonKeyAttributes: g.include } : { ProjectionType: g.keysOnly ? 'KEYS_ONLY' : 'ALL' },
        })),
      );
      expect(props.BillingMode).toBe('PAY_PER_REQUEST');
      expect(props.PointInTimeRecoverySpecification).toMatchObject({ PointInTimeRecoveryEnabled: true });
      expect(props.SSESpecification).toEqual({ SSEEnabled: true });
    });

    it('has no table that infra/tables.ts does not describe', () => {
      expect(resourcesOfType(d().data, 'AWS::DynamoDB::Table')).toHaveLength(tables.length);
    });

    it('keeps the model bucket versioned, encrypted, private, TLS-only and access-logged', () => {
      const [, bucket] = d().at(d().data, d().stacks.data, 'ModelBucket');
      const props = must(bucket.Properties, 'bucket');
      expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({ SSEAlgorithm: 'AES256' });
      expect(props.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      expect(d().describe(props.LoggingConfiguration.DestinationBucketName, d().stacks.data)).toBe('<AccessLogsBucket>');
    });

    it.each(['ModelBucket', 'AccessLogsBucket'])('%s policy: denies plain HTTP and TLS below 1.2, allows no anonymous principal', (bucket) => {
      const [, policy] = d().at(d().data, d().stacks.data, `${bucket}/Policy`);
      const statements = must(policy.Properties, 'policy').PolicyDocument.Statement as Json[];
      const denies = statements.filter((s) => s.Effect === 'Deny');
      expect(denies).toContainEqual(expect.objectContaining({ Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }));
      expect(denies).toContainEqual(expect.objectContaining({ Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }));
      for (const allow of statements.filter((s) => s.Effect === 'Allow')) {
        expect(JSON.stringify(allow.Principal)).not.toBe('{"AWS":"*"}');
        expect(allow.Principal).not.toBe('*');
      }
    });

    it('lets only S3 log delivery, for the model bucket, write to the access-log bucket', () => {
      const [, policy] = d().at(d().data, d().stacks.data, 'AccessLogsBucket/Policy');
      const allows = (must(policy.Properties, 'policy').PolicyDocument.Statement as Json[]).filter(
        (s) => s.Effect === 'Allow' && JSON.stringify(s.Action).includes('s3:PutObject'),
      );
      expect(allows).toHaveLength(1);
      expect(allows[0]?.Principal).toEqual({ Service: 'logging.s3.amazonaws.com' });
      expect(d().describe(allows[0]?.Condition.ArnLike['aws:SourceArn'], d().stacks.data)).toBe('<ModelBucket>');
    });

    it('signs with two asymmetric RSA keys', () => {
      for (const name of ['SigningKeyA', 'SigningKeyB']) {
        const [, key] = d().at(d().data, d().stacks.data, name);
        expect(key.Properties).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
      }
    });

    it('encrypts the alerts topic and refuses it plain HTTP', () => {
      const [, topic] = d().at(d().data, d().stacks.data, 'AlertsTopic');
      expect(d().describe(topic.Properties?.KmsMasterKeyId, d().stacks.data)).toContain('alias/aws/sns');
      const [, policy] = d().at(d().data, d().stacks.data, 'AlertsTopic/Policy');
      expect(must(policy.Properties, 'policy').PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    });
  });

  describe('operations', () => {
    it('alarms on 5xx rate, p99 latency, alert and model failures, every function\'s errors and throttles and every table\'s throttles, to the ops topic', () => {
      const alarms = resourcesOfType(d().ops, 'AWS::CloudWatch::Alarm');
      const expected = [
        'Api5xxRate',
        'ApiP99Latency',
        'AlertPublishFailures',
        'ModelDegraded',
        'StatsWriteFailures',
        ...functionNames.flatMap((n) => [`${functionConstructId(n)}Errors`, `${functionConstructId(n)}Throttles`]),
        ...tables.map((t) => `${t.id}TableThrottles`),
      ];
      expect(alarms.map(([, a]) => pathOf(a).split('/')[1]).sort()).toEqual(expected.sort());
      for (const [, alarm] of alarms) {
        expect(alarm.Properties?.AlarmActions.map((a: unknown) => d().describe(a, d().stacks.ops))).toEqual(['<OpsTopic>']);
        expect(alarm.Properties?.OKActions.map((a: unknown) => d().describe(a, d().stacks.ops))).toEqual(['<OpsTopic>']);
      }
    });

    it('has a dashboard with the API, function, table and EMF metrics', () => {
      const [, dashboard] = must(resourcesOfType(d().ops, 'AWS::CloudWatch::Dashboard')[0], 'dashboard');
      const body = d().describe(dashboard.Properties?.DashboardBody, d().stacks.ops);
      const namespace = metricsNamespace(environmentName);
      for (const metric of Object.values(metricNames)) {
        // A plain series of the EMF namespace, a SEARCH over its per-version series, or a query across models.
        const graphed =
          body.includes(`"${namespace}","${metric}"`) ||
          (body.includes(`{${namespace},`) && body.includes(`MetricName=\\"${metric}\\"`)) ||
          body.includes(`SELECT SUM(${metric}) FROM SCHEMA(\\"${namespace}\\"`);
        expect(graphed, metric).toBe(true);
      }
      for (const metric of ['"Count"', '"5xx"', '"Latency"', '"Errors"', '"Throttles"', '"ReadThrottleEvents"', 'NumberOfMessagesPublished']) expect(body).toContain(metric);
    });

    it('encrypts the ops topic with a key CloudWatch may use, and lets only this account\'s alarms publish', () => {
      const [, topic] = d().at(d().ops, d().stacks.ops, 'OpsTopic');
      expect(d().describe(topic.Properties?.KmsMasterKeyId, d().stacks.ops)).toBe('<OpsTopicKey>');
      const [, key] = d().at(d().ops, d().stacks.ops, 'OpsTopicKey');
      expect(key.Properties?.EnableKeyRotation).toBe(true);
      expect(key.Properties?.KeyPolicy.Statement).toContainEqual(
        expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
      );
      const [, policy] = d().at(d().ops, d().stacks.ops, 'OpsTopic/Policy');
      const allows = (must(policy.Properties, 'policy').PolicyDocument.Statement as Json[]).filter((s) => s.Effect === 'Allow');
      expect(allows).toHaveLength(1);
      expect(allows[0]).toMatchObject({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' });
      expect(allows[0]?.Condition.StringEquals).toHaveProperty(['aws:SourceAccount']);
    });
  });

  describe('removal', () => {
    const stateful = ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::KMS::Key'];

    it(environmentName === 'prod' ? 'retains tables, buckets and keys, protects tables and stacks' : 'destroys everything it created', () => {
      const retain = d().config.removalPolicy === 'retain';
      expect(retain).toBe(environmentName === 'prod');
      const resources = Object.values(d().data.Resources).filter((r) => stateful.includes(r.Type));
      expect(resources.length).toBe(tables.length + 2 + 2);
      for (const resource of resources) {
        expect(resource.DeletionPolicy, pathOf(resource)).toBe(retain ? 'Retain' : 'Delete');
        expect(resource.UpdateReplacePolicy, pathOf(resource)).toBe(retain ? 'Retain' : 'Delete');
      }
      for (const [, table] of resourcesOfType(d().data, 'AWS::DynamoDB::Table')) expect(table.Properties?.DeletionProtectionEnabled).toBe(retain);
      // Emptying buckets on delete is for environments that destroy only.
      expect(resourcesOfType(d().data, 'Custom::S3AutoDeleteObjects')).toHaveLength(retain ? 0 : 2);
      for (const stack of [d().synth.twinserve.data, d().synth.twinserve.api, d().synth.twinserve.ops]) expect(stack.terminationProtection).toBe(retain);
    });
  });
});

describe('an environment with a custom domain, arm64 and e-mail subscriptions', () => {
  let d: Deployment;
  beforeAll(() => {
    const context = cdkJsonContext();
    const dev = (context.environments as Record<string, Json>).dev;
    const staging = {
      ...dev,
      architecture: 'arm64',
      api: {
        ...dev?.api,
        customDomain: {
          domainName: 'twin.example.com',
          certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0b7e8f4e-1111-2222-3333-444455556666',
          hostedZoneId: 'Z0123456789ABCDEFGHIJ',
          hostedZoneName: 'example.com',
        },
      },
      signing: { activeKey: 'B', generations: { A: 1, B: 2 } },
      alerts: { emails: ['plant-alerts@example.com'] },
      ops: { ...dev?.ops, emails: ['oncall@example.com', 'platform@example.com'] },
    };
    d = new Deployment(synthesize('staging', { environments: { staging } }));
  }, synthTimeout);
  afterAll(() => d?.synth.dispose());

  it('serves the API on the domain with the TLS 1.2 policy, and only there', () => {
    const [, domain] = must(resourcesOfType(d.api, 'AWS::ApiGatewayV2::DomainName')[0], 'domain');
    expect(domain.Properties).toMatchObject({
      DomainName: 'twin.example.com',
      DomainNameConfigurations: [{ SecurityPolicy: 'TLS_1_2', EndpointType: 'REGIONAL' }],
    });
    expect(resourcesOfType(d.api, 'AWS::ApiGatewayV2::ApiMapping')).toHaveLength(1);
    const [, api] = must(resourcesOfType(d.api, 'AWS::ApiGatewayV2::Api')[0], 'api');
    expect(api.Properties?.DisableExecuteApiEndpoint).toBe(true);
    const [, record] = must(resourcesOfType(d.api, 'AWS::Route53::RecordSet')[0], 'record');
    expect(record.Properties).toMatchObject({ Name: 'twin.example.com.', Type: 'A', HostedZoneId: 'Z0123456789ABCDEFGHIJ' });
  });

  it('makes the domain the issuer, in the authorizer and in every function', () => {
    const [, authorizer] = must(resourcesOfType(d.api, 'AWS::ApiGatewayV2::Authorizer')[0], 'authorizer');
    expect(authorizer.Properties?.JwtConfiguration).toEqual({ Issuer: 'https://twin.example.com', Audience: ['twinserve-staging'] });
    for (const name of functionNames) expect(d.fn(name).Environment.Variables[envNames.issuer]).toBe('https://twin.example.com');
  });

  it("keeps the dashboard's API on its origin through the custom domain (the execute-api endpoint is off)", () => {
    const dashboard = Template.fromStack(d.synth.twinserve.dashboard).toJSON() as CfnTemplate;
    const [, distribution] = must(resourcesOfType(dashboard, 'AWS::CloudFront::Distribution')[0], 'distribution');
    const origins = distribution.Properties?.DistributionConfig.Origins as Json[];
    expect(origins.map((o) => o.DomainName)).toContain('twin.example.com');
  });

  it('builds functions and the layer for arm64', () => {
    for (const name of functionNames) expect(d.fn(name).Architectures).toEqual(['arm64']);
    for (const [, layer] of resourcesOfType(d.api, 'AWS::Lambda::LayerVersion')) expect(layer.Properties?.CompatibleArchitectures).toEqual(['arm64']);
  });

  it('subscribes the configured addresses to the alerts and ops topics', () => {
    const subscriptions = (template: CfnTemplate, stack: string) =>
      resourcesOfType(template, 'AWS::SNS::Subscription').map(([, s]) => `${d.describe(s.Properties?.TopicArn, stack)} ${s.Properties?.Protocol} ${s.Properties?.Endpoint}`);
    expect(subscriptions(d.data, d.stacks.data)).toEqual(['<AlertsTopic> email plant-alerts@example.com']);
    expect(subscriptions(d.ops, d.stacks.ops).sort()).toEqual(['<OpsTopic> email oncall@example.com', '<OpsTopic> email platform@example.com']);
  });

  it('signs with the active key\'s current generation and publishes both keys, active first', () => {
    for (const name of functionNames) {
      expect(d.describe(d.fn(name).Environment.Variables[envNames.signingKmsKeyIds], d.stacks.api)).toBe('<SigningKeyBGen2>,<SigningKeyA>');
      const signs = [...d.permissions(name)].filter((p) => p.startsWith('kms:Sign '));
      expect(signs).toEqual(functionDefs[name].signingKey === 'sign' ? ['kms:Sign <SigningKeyBGen2>'] : []);
    }
    expect(resourcesOfType(d.data, 'AWS::KMS::Key').map(([, k]) => pathOf(k).split('/')[1]).sort()).toEqual(['SigningKeyA', 'SigningKeyBGen2']);
  });

  it('stays cdk-nag clean', () => {
    for (const plugin of must(d.synth.report, 'validation report').pluginReports) expect(plugin.violations).toEqual([]);
  });
});

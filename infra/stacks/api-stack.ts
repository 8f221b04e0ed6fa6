import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  DomainName,
  EndpointType,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
  SecurityPolicy,
  type IHttpRouteAuthorizer,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Architecture, Code, LayerVersion } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ARecord, HostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import { ApiGatewayv2DomainProperties } from 'aws-cdk-lib/aws-route53-targets';
import type { Construct } from 'constructs';
import { envNames } from '../../functions/config.js';
import { metricsNamespace } from '../../functions/observability.js';
import { functionNames, routeKey, routes, schedules, type FunctionName, type RouteDef, type ScheduleDef } from '../../functions/routes.js';
import { layerArchFor, buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.js';
import { accessStatements } from '../constructs/access.js';
import { TwinFunction, twinRuntime } from '../constructs/twin-function.js';
import type { TwinEnvironment } from '../environments.js';
import { functionDefs } from '../functions.js';
import { tables as tableDefs } from '../tables.js';
import type { DataStack } from './data-stack.js';

export interface ApiStackProps extends StackProps {
  readonly environment: TwinEnvironment;
  readonly data: DataStack;
}

/**
 * The HTTP API and its functions. Routes come from functions/routes.ts and functions from infra/functions.ts, in
 * loops: a route or function added there appears here (and in the local gateway) with no change to this file.
 * The JWT authorizer trusts exactly one issuer, the API itself (or its custom domain), and one audience.
 */
export class ApiStack extends Stack {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  /** The token issuer: the API's own base URL, no trailing slash. */
  readonly issuer: string;
  /** The API's host name (the custom domain, else `<id>.execute-api.<region>.amazonaws.com`): CloudFront's origin. */
  readonly hostName: string;
  readonly audience: string;
  readonly functions: ReadonlyMap<FunctionName, TwinFunction>;
  readonly onnxRuntimeLayer: LayerVersion | undefined;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { environment, data } = props;
    const { config } = environment;
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = config.retention.logDays as RetentionDays;
    const domain = config.api.customDomain;

    this.api = new HttpApi(this, 'HttpApi', {
      description: `Twinserve ${environment.name}`,
      createDefaultStage: false,
      // With a custom domain, it is the only way in (and the only issuer tokens name).
      disableExecuteApiEndpoint: domain !== undefined,
      ...(config.api.corsOrigins.length
        ? {
            corsPreflight: {
              allowOrigins: config.api.corsOrigins,
              // The methods the route table uses, nothing more.
              allowMethods: [...new Set(routes.map((r) => CorsHttpMethod[r.method]))],
              allowHeaders: ['authorization', 'content-type'],
              exposeHeaders: ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });

    const domainName = domain
      ? new DomainName(this, 'DomainName', {
          domainName: domain.domainName,
          certificate: Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
          endpointType: EndpointType.REGIONAL,
          securityPolicy: SecurityPolicy.TLS_1_2,
        })
      : undefined;
    this.issuer = domain ? `https://${domain.domainName}` : this.api.apiEndpoint;
    this.hostName = domain ? domain.domainName : Fn.select(2, Fn.split('/', this.api.apiEndpoint));
    this.audience = environment.audience;

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: logRetention, removalPolicy });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.api.throttle.rateLimit, burstLimit: config.api.throttle.burstLimit },
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogs), format: accessLogFormat() },
      ...(domainName ? { domainMapping: { domainName } } : {}),
    });

    if (domain?.hostedZoneId && domain.hostedZoneName && domainName) {
      new ARecord(this, 'DomainRecord', {
        zone: HostedZone.fromHostedZoneAttributes(this, 'HostedZone', { hostedZoneId: domain.hostedZoneId, zoneName: domain.hostedZoneName }),
        recordName: domain.domainName,
        target: RecordTarget.fromAlias(new ApiGatewayv2DomainProperties(domainName.regionalDomainName, domainName.regionalHostedZoneId)),
      });
    }

    const architecture = config.architecture === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64;
    this.onnxRuntimeLayer = Object.values(functionDefs).some((def) => def.inference) ? this.createOnnxRuntimeLayer(config.architecture) : undefined;

    const environmentVariables: Record<string, string> = {
      ...Object.fromEntries(tableDefs.map((t) => [t.env, requireTable(data, t.id).tableName])),
      [envNames.modelBucket]: data.modelBucket.bucketName,
      [envNames.issuer]: this.issuer,
      [envNames.audience]: this.audience,
      [envNames.signingKmsKeyIds]: data.publishedSigningKeys.map((k) => k.keyArn).join(','),
      [envNames.environment]: environment.name,
      [envNames.defaultModel]: config.models.default,
      [envNames.plantDefaultModels]: JSON.stringify(config.models.plantDefaults),
      [envNames.userTokenTtlSeconds]: String(config.tokens.userTtlSeconds),
      [envNames.keyTokenTtlSeconds]: String(config.tokens.apiKeyTtlSeconds),
      [envNames.keyRotationGraceSeconds]: String(config.tokens.apiKeyRotationGraceSeconds),
      [envNames.rateLimitPerMinute]: String(config.rateLimits.perPrincipalPerMinute),
      [envNames.loginLimitPerUsername]: String(config.rateLimits.loginPerUsernamePerMinute),
      [envNames.loginLimitPerSource]: String(config.rateLimits.loginPerSourcePerMinute),
      [envNames.auditRetentionDays]: String(config.retention.auditDays),
      [envNames.metricsNamespace]: metricsNamespace(environment.name),
    };
    const resources = {
      tableDefs,
      tables: data.tables,
      activeSigningKey: data.activeSigningKey,
      publishedSigningKeys: data.publishedSigningKeys,
      alertsTopic: data.alertsTopic,
    };

    const functions = new Map<FunctionName, TwinFunction>();
    for (const name of functionNames) {
      const def = functionDefs[name];
      const fn = new TwinFunction(this, functionConstructId(name), {
        def,
        // Every function gets every name its config schema requires; its role decides what it may touch.
        environment: {
          ...environmentVariables,
          ...(def.alerts ? { [envNames.alertsTopicArn]: data.alertsTopic.topicArn } : {}),
        },
        statements: accessStatements(def, resources),
        managedPolicies: def.modelBucket ? [requireDefined(data.modelBucketPolicies.get(def.modelBucket), `model bucket policy ${def.modelBucket}`)] : [],
        architecture,
        ...(config.functions.memoryMb[name] ? { memoryMb: config.functions.memoryMb[name] } : {}),
        timeout: Duration.seconds(config.functions.timeoutSeconds),
        logRetention,
        logRemovalPolicy: removalPolicy,
        ...(def.inference && this.onnxRuntimeLayer ? { onnxRuntimeLayer: this.onnxRuntimeLayer } : {}),
        ...(config.functions.provisionedConcurrency[name] ? { provisionedConcurrency: config.functions.provisionedConcurrency[name] } : {}),
      });
      functions.set(name, fn);
    }
    this.functions = functions;

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', this.issuer, {
      authorizerName: 'twinserve-jwt',
      jwtAudience: [this.audience],
      identitySource: ['$request.header.Authorization'],
    });
    const integrations = new Map(
      [...functions].map(([name, fn]) => [name, new HttpLambdaIntegration(`${functionConstructId(name)}Integration`, fn.alias)]),
    );
    for (const route of routes) {
      const integration = integrations.get(route.function);
      if (!integration) throw new Error(`routes: ${routeKey(route)} names function "${route.function}", which is not in functionNames`);
      const httpRoute = new HttpRoute(this, routeConstructId(route), {
        httpApi: this.api,
        routeKey: HttpRouteKey.with(route.path, HttpMethod[route.method]),
        integration,
        ...(route.auth === 'public'
          ? { authorizer: publicAuthorizer }
          : { authorizer, authorizationScopes: [...route.auth.scopes] }),
      });
      if (route.auth === 'public') {
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions::AwsSolutions-APIG4',
          reason: `${routeKey(route)} (${route.summary}) is public in functions/routes.ts: its callers hold no token yet (monitors, the authorizer fetching the issuer's keys, clients logging in), so the function serves only public data or authenticates the caller itself.`,
        });
      }
    }

    // The schedules of functions/routes.ts: one rule each, invoking the function's live alias (as the API does).
    // EventBridge invokes asynchronously: a failed run is retried twice by Lambda, and a run older than the
    // next one is dropped rather than queued behind it.
    for (const schedule of schedules) {
      const fn = requireDefined(functions.get(schedule.function), `function ${schedule.function}`);
      new Rule(this, scheduleConstructId(schedule), {
        description: `${schedule.action}: ${schedule.summary}`.slice(0, 512),
        schedule: Schedule.rate(Duration.minutes(schedule.everyMinutes)),
        targets: [new LambdaFunction(fn.alias, { retryAttempts: 2, maxEventAge: Duration.minutes(schedule.everyMinutes) })],
      });
    }

    new CfnOutput(this, 'ApiUrl', { value: this.issuer, description: 'Base URL of the API and the token issuer' });
    new CfnOutput(this, 'Audience', { value: this.audience, description: 'JWT audience' });
    for (const [name, fn] of functions) {
      new CfnOutput(this, `${functionConstructId(name)}FunctionName`, { value: fn.function.functionName });
    }
  }

  /** onnxruntime-node pruned to linux/<arch> at synth (layers/onnxruntime/build.ts), for the inferring functions. */
  private createOnnxRuntimeLayer(architecture: 'x86_64' | 'arm64'): LayerVersion {
    const layer = buildOnnxRuntimeLayer({ arch: layerArchFor(architecture) });
    return new LayerVersion(this, 'OnnxRuntimeLayer', {
      code: Code.fromAsset(layer.dir),
      compatibleRuntimes: [twinRuntime],
      compatibleArchitectures: [architecture === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64],
      description: `onnxruntime-node ${layer.version}, CPU, linux/${layer.arch} only`,
    });
  }
}

/** Public routes are explicit: API Gateway's NONE authorizer, never "no authorizer configured by accident". */
const publicAuthorizer: IHttpRouteAuthorizer = new HttpNoneAuthorizer();

/** `predict` -> `Predict`, `public-info` -> `PublicInfo`: stable construct ids, so logical ids never churn. */
export function functionConstructId(name: FunctionName): string {
  return name.replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());
}

/** `quality-schedule` -> `ScheduleQualitySchedule`: the rule's stable construct id. */
export function scheduleConstructId(schedule: Pick<ScheduleDef, 'function'>): string {
  return `Schedule${functionConstructId(schedule.function)}`;
}

/** `GET /api/v1/keys/{id}` -> `Route GET api.v1.keys.{id}` (construct ids cannot contain `/`). */
export function routeConstructId(route: Pick<RouteDef, 'method' | 'path'>): string {
  return `Route ${route.method} ${route.path.slice(1).replaceAll('/', '.')}`;
}

function requireTable(data: DataStack, id: string) {
  return requireDefined(data.tables.get(id), `table ${id}`);
}

function requireDefined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the data stack has no ${what}`);
  return value;
}

/** JSON, one line per request; no bodies, no tokens. Rejected tokens appear here only (no function runs). */
function accessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      time: '$context.requestTime',
      ip: '$context.identity.sourceIp',
      userAgent: '$context.identity.userAgent',
      method: '$context.httpMethod',
      routeKey: '$context.routeKey',
      path: '$context.path',
      status: '$context.status',
      protocol: '$context.protocol',
      responseLength: '$context.responseLength',
      responseLatencyMs: '$context.responseLatency',
      integrationLatencyMs: '$context.integrationLatency',
      integrationStatus: '$context.integrationStatus',
      integrationError: '$context.integrationErrorMessage',
      authorizerError: '$context.authorizer.error',
      principal: '$context.authorizer.claims.sub',
    }),
  );
}


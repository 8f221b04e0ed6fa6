import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage, Duration, RemovalPolicy, Validations, type ILocalBundling } from 'aws-cdk-lib';
import { Role, ServicePrincipal, type IManagedPolicy, type PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  Alias,
  ApplicationLogLevel,
  Architecture,
  Code,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
  type ILayerVersion,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { functionDescriptions } from '../../functions/function-descriptions.js';
import { deployedBundleOptions } from '../build/lambda-bundle.js';
import type { FunctionDef } from '../functions.js';

/** The repository root: handlers are `functions/<name>.ts` under it. */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Node's runtime on Lambda; the layer and bundles target it. */
export const twinRuntime = Runtime.NODEJS_22_X;

export interface TwinFunctionProps {
  /** The function's entry in infra/functions.ts: name (and so `functions/<name>.ts`), memory, inference. */
  readonly def: FunctionDef;
  /** Environment variables, named by functions/config.ts `envNames`. */
  readonly environment: Record<string, string>;
  /** IAM statements for the function's own role (infra/constructs/access.ts). */
  readonly statements: readonly PolicyStatement[];
  /** Customer managed policies for the role (never AWS managed ones). @default none */
  readonly managedPolicies?: readonly IManagedPolicy[];
  /** @default Architecture.X86_64 */
  readonly architecture?: Architecture;
  /** @default def.memoryMb, else 512 */
  readonly memoryMb?: number;
  /** @default 15 seconds */
  readonly timeout?: Duration;
  /** Retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /** What happens to the log group when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** The onnxruntime layer: required when `def.inference`, refused otherwise. */
  readonly onnxRuntimeLayer?: ILayerVersion;
  /** Provisioned concurrency on the `live` alias. @default none */
  readonly provisionedConcurrency?: number;
}

/**
 * One Twinserve Lambda function, fixed in one place: Node 22, ESM bundle by local esbuild (never Docker),
 * X-Ray tracing, JSON logs into its own log group with retention, its own role with only the statements it
 * is given (no managed policies), the onnxruntime layer only where it infers, and a `live` alias (the API's
 * integration target, which carries provisioned concurrency when configured).
 */
export class TwinFunction extends Construct {
  readonly function: NodejsFunction;
  /** Invoke this, not {@link function}: it is what API Gateway calls. */
  readonly alias: Alias;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: TwinFunctionProps) {
    super(scope, id);
    const { def } = props;
    if (def.inference && !props.onnxRuntimeLayer) throw new Error(`TwinFunction ${def.name}: infers, so it needs the onnxruntime layer`);
    if (!def.inference && props.onnxRuntimeLayer) throw new Error(`TwinFunction ${def.name}: does not infer, so it must not carry the onnxruntime layer`);
    assertLocalEsbuild();

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Twinserve ${def.name}: only what infra/functions.ts grants it`,
      managedPolicies: [...(props.managedPolicies ?? [])],
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): write to this group only.
    this.logGroup.grantWrite(this.role);
    for (const statement of props.statements) this.role.addToPrincipalPolicy(statement);

    this.function = new NodejsFunction(this, 'Function', {
      // index.mjs, built from functions/<name>.ts in this process (LocalEsbuild below).
      code: Code.fromAsset(projectRoot, {
        // The asset's hash is its files' (the bundle and its map), as NodejsFunction's was.
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          local: new LocalEsbuild(def),
          // Required by the type, never run: LocalEsbuild builds or throws, so nothing falls back to Docker.
          image: DockerImage.fromRegistry('twinserve-bundles-locally'),
        },
      }),
      handler: 'index.handler',
      description: functionDescriptions[def.name],
      runtime: twinRuntime,
      architecture: props.architecture ?? Architecture.X86_64,
      memorySize: props.memoryMb ?? def.memoryMb ?? 512,
      timeout: props.timeout ?? Duration.seconds(15),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      tracing: Tracing.ACTIVE,
      layers: props.onnxRuntimeLayer ? [props.onnxRuntimeLayer] : [],
      // ORT_DISABLE_TELEMETRY: onnxruntime's telemetry off from the first instruction (functions/core/twin/no-telemetry.ts).
      // No --enable-source-maps: node would parse the source map on every cold start; the logger maps the stacks
      // of logged errors itself, reading the map on the first one (functions/source-maps.ts).
      environment: { ...props.environment, ORT_DISABLE_TELEMETRY: '1' },
      currentVersionOptions: { removalPolicy: RemovalPolicy.DESTROY },
    });

    this.alias = new Alias(this, 'Live', {
      aliasName: 'live',
      version: this.function.currentVersion,
      ...(props.provisionedConcurrency ? { provisionedConcurrentExecutions: props.provisionedConcurrency } : {}),
    });

    // The two findings every TwinFunction raises, both imposed from outside.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions, so AWS requires Resource "*"; the role has no other "*".',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason: 'Node.js 22 is the required target runtime: the onnxruntime-node layer (N-API binaries) and the esbuild target are built and tested for it; changing twinRuntime is a deliberate, tested change.',
    });
  }
}

/**
 * Builds a function's asset in the synthesizing process with esbuild's API (infra/build/lambda-bundle.ts
 * `deployedBundleOptions`), instead of NodejsFunction's `npx esbuild`, which started npm once per function
 * (about a second each, for the same bytes). Its fields are what the asset cache tells bundles apart by (it
 * keys on the bundling options' JSON, which leaves out methods): the function's name and whether it infers.
 */
class LocalEsbuild implements ILocalBundling {
  readonly function: string;
  readonly inference: boolean;

  constructor(def: FunctionDef) {
    this.function = def.name;
    this.inference = def.inference;
  }

  tryBundle(outputDir: string): boolean {
    const esbuild = createRequire(join(projectRoot, 'package.json'))('esbuild') as typeof import('esbuild');
    esbuild.buildSync(deployedBundleOptions({ name: this.function as FunctionDef['name'], inference: this.inference }, outputDir));
    return true;
  }
}

/** Bundling needs the project's esbuild (the asset is built locally; there is no Docker here). */
function assertLocalEsbuild(): void {
  try {
    createRequire(join(projectRoot, 'package.json')).resolve('esbuild');
  } catch {
    throw new Error('esbuild is not installed: run npm ci (Twinserve bundles with local esbuild, never Docker)');
  }
}

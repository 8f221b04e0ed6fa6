import * as z from 'zod';
import { functionNames } from '../functions/routes.js';

/**
 * One deployment environment, as written under `context.environments.<name>` in cdk.json. Objects are strict,
 * so a misspelt key fails synth as loudly as a wrong value, and every failure names the key.
 */

/** The retention periods CloudWatch Logs accepts. */
const logRetentionDays = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const functionName = z.enum(functionNames);
const seconds = (min: number, max: number) => z.int().min(min).max(max);
const perMinute = z.int().positive().max(1_000_000);
const modelName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a model name (lower-case letters, digits, dashes)');

/** A browser origin: scheme, host and optional port, nothing else (API Gateway compares them verbatim). */
const origin = z.string().regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/, 'expected an origin such as https://twin.example.com');

export const environmentSchema = z.strictObject({
  /** Pins the environment to one AWS account; without it the CLI's current account is used. */
  account: z.string().regex(/^\d{12}$/, 'expected a 12-digit AWS account id').optional(),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'expected an AWS region such as eu-west-1'),
  /** `retain` keeps tables, bucket and signing keys when a stack is deleted (and protects the stacks); `destroy` removes them. */
  removalPolicy: z.enum(['retain', 'destroy']),
  /** Lambda architecture; the onnxruntime layer is pruned to match. */
  architecture: z.enum(['x86_64', 'arm64']).default('x86_64'),
  api: z.strictObject({
    /** Stage-wide throttling (requests per second, steady and burst). */
    throttle: z.strictObject({ rateLimit: z.number().positive().max(100_000), burstLimit: z.int().positive().max(100_000) }),
    /** Browser origins allowed by CORS; empty: no CORS preflight (CLI and server clients only). */
    corsOrigins: z.array(origin).default([]),
    /** Serve the API (and make it the token issuer) on this name; TLS 1.2 minimum. */
    customDomain: z
      .strictObject({
        domainName: z.string().regex(/^([a-z0-9-]+\.)+[a-z]{2,}$/, 'expected a host name such as twin.example.com'),
        /** An ACM certificate for the name, in the environment's region. */
        certificateArn: z.string().regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, 'expected an ACM certificate ARN'),
        /** With both hosted-zone fields, an alias A record is created in that Route 53 zone. */
        hostedZoneId: z.string().regex(/^Z[A-Z0-9]+$/).optional(),
        hostedZoneName: z.string().min(3).optional(),
      })
      .refine((d) => (d.hostedZoneId === undefined) === (d.hostedZoneName === undefined), {
        message: 'set both hostedZoneId and hostedZoneName, or neither',
      })
      .optional(),
  }),
  tokens: z.strictObject({
    /** Lifetime of tokens from password login. */
    userTtlSeconds: seconds(60, 43_200),
    /** Lifetime of tokens exchanged for an API key (client credentials). */
    apiKeyTtlSeconds: seconds(60, 43_200),
    /** How long a rotated API key's previous secret keeps working. */
    apiKeyRotationGraceSeconds: seconds(0, 30 * 86_400),
  }),
  rateLimits: z.strictObject({
    /** Default requests per minute per principal (an API key may carry its own). */
    perPrincipalPerMinute: perMinute,
    loginPerUsernamePerMinute: perMinute,
    loginPerSourcePerMinute: perMinute,
  }),
  retention: z.strictObject({
    /** Function logs and API access logs in CloudWatch Logs. */
    logDays: z.literal(logRetentionDays),
    /** Audit records (DynamoDB TTL) and S3 server access logs. */
    auditDays: z.int().min(1).max(3653),
  }),
  signing: z.strictObject({
    /** Which of the two KMS signing keys signs new tokens; both are published in the JWKS. */
    activeKey: z.enum(['A', 'B']),
    /** Bump a key's generation to replace its key material with a new KMS key (docs/deploy.md: rotate). */
    generations: z.strictObject({ A: z.int().min(1).default(1), B: z.int().min(1).default(1) }).default({ A: 1, B: 1 }),
  }),
  functions: z
    .strictObject({
      /** Overrides of infra/functions.ts `memoryMb`. */
      memoryMb: z.partialRecord(functionName, z.int().min(128).max(10_240)).default({}),
      /** Provisioned concurrency on the function's `live` alias. */
      provisionedConcurrency: z.partialRecord(functionName, z.int().min(1).max(1_000)).default({}),
      /** Per-invocation limit; API Gateway gives up after 30 s. */
      timeoutSeconds: seconds(1, 29).default(15),
    })
    .default({ memoryMb: {}, provisionedConcurrency: {}, timeoutSeconds: 15 }),
  /** Which model the chapter's routes (/api/v1/twin/*, /predict, /model/info) serve; /api/v1/models/{name}/* serve any. */
  models: z
    .strictObject({
      /** The deployment's default model. */
      default: modelName.default('reactor-yield'),
      /** Per plant, a default that replaces it for the plant's principals. */
      plantDefaults: z.record(z.string().min(1).max(64), modelName).default({}),
    })
    .default({ default: 'reactor-yield', plantDefaults: {} }),
  alerts: z.strictObject({
    /** E-mail subscriptions to the anomaly-alert topic (each must confirm the subscription). */
    emails: z.array(z.email()).default([]),
  }),
  /** Stored data moving between releases (docs/models.md, "Tenancy of the served rows"). */
  transitions: z
    .strictObject({
      /**
       * Keep the Predictions table's former `byModelTime` index beside `byModelPlantTime` for one deploy:
       * CloudFormation adds or removes one index of a table per update, never both. Nothing reads it.
       */
      keepFormerPredictionsIndex: z.boolean().default(false),
    })
    .default({ keepFormerPredictionsIndex: false }),
  ops: z.strictObject({
    /** E-mail subscriptions to the operations topic that receives alarm notifications. */
    emails: z.array(z.email()).default([]),
    alarms: z.strictObject({
      /** 5xx responses as a percentage of requests over 5 minutes. */
      error5xxPercent: z.number().positive().max(100),
      /** API p99 latency in milliseconds over 5 minutes. */
      p99LatencyMs: z.int().positive().max(30_000),
    }),
  }),
});

export type EnvironmentConfig = z.infer<typeof environmentSchema>;

/** A resolved environment: its name, its validated settings and the values derived from the name. */
export interface TwinEnvironment {
  name: string;
  config: EnvironmentConfig;
  /** The JWT audience: fixed per environment, so a dev token is never accepted by prod. */
  audience: string;
}

export class EnvironmentConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentConfigError';
  }
}

const environmentName = /^[a-z][a-z0-9-]{0,19}$/;

/**
 * Validates `environments.<name>` from the CDK context. Throws {@link EnvironmentConfigError} naming every
 * offending key (`environments.prod.api.throttle.rateLimit: ...`), which fails synth.
 */
export function resolveEnvironment(environments: unknown, name: string): TwinEnvironment {
  if (!environmentName.test(name)) {
    throw new EnvironmentConfigError(`env: "${name}" is not a valid environment name (lower case letters, digits, dashes)`);
  }
  if (typeof environments !== 'object' || environments === null) {
    throw new EnvironmentConfigError('environments: missing from the CDK context (cdk.json "context.environments")');
  }
  const raw = (environments as Record<string, unknown>)[name];
  if (raw === undefined) {
    const known = Object.keys(environments).join(', ') || 'none';
    throw new EnvironmentConfigError(`environments.${name}: no such environment in cdk.json (known: ${known})`);
  }
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => {
      const base = ['environments', name, ...issue.path.map(String)].join('.');
      return issue.code === 'unrecognized_keys' ? issue.keys.map((k) => `${base}.${k}: unknown key`) : [`${base}: ${issue.message}`];
    });
    throw new EnvironmentConfigError(`Invalid environment configuration:\n  ${problems.join('\n  ')}`);
  }
  return { name, config: parsed.data, audience: `twinserve-${name}` };
}

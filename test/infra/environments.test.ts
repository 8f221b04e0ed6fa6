import { describe, expect, it } from 'vitest';
import { EnvironmentConfigError, resolveEnvironment } from '../../infra/environments.js';
import { cdkJsonContext } from '../support/cdk.js';

/** The cdk.json environment schema: what ships validates, and a wrong value fails naming its key. */

const shipped = cdkJsonContext().environments as Record<string, Record<string, unknown>>;
const dev = shipped.dev!;

function withDev(change: (env: Record<string, any>) => void): Record<string, unknown> {
  const env = structuredClone(dev) as Record<string, any>;
  change(env);
  return { dev: env };
}

function failure(environments: unknown, name = 'dev'): string {
  try {
    resolveEnvironment(environments, name);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvironmentConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('environments in cdk.json', () => {
  it.each(Object.keys(shipped))('%s validates', (name) => {
    const environment = resolveEnvironment(shipped, name);
    expect(environment.name).toBe(name);
    expect(environment.audience).toBe(`twinserve-${name}`);
  });

  it('has at least dev and prod, prod keeps its data, and neither needs provisioned concurrency (opt-in)', () => {
    expect(Object.keys(shipped)).toEqual(expect.arrayContaining(['dev', 'prod']));
    expect(resolveEnvironment(shipped, 'prod').config.removalPolicy).toBe('retain');
    expect(resolveEnvironment(shipped, 'dev').config.removalPolicy).toBe('destroy');
    // New accounts have a concurrency quota of 10: a first deploy must not depend on raising it (docs/deploy.md).
    for (const name of ['dev', 'prod']) expect(resolveEnvironment(shipped, name).config.functions.provisionedConcurrency).toEqual({});
  });

  it('defaults the architecture to x86_64', () => {
    const environment = resolveEnvironment(
      withDev((e) => delete e.architecture),
      'dev',
    );
    expect(environment.config.architecture).toBe('x86_64');
  });
});

describe('a wrong configuration fails synth naming the key', () => {
  it.each([
    ['a wrong type', (e: Record<string, any>) => (e.api.throttle.rateLimit = 'fast'), 'environments.dev.api.throttle.rateLimit'],
    ['a value out of range', (e: Record<string, any>) => (e.tokens.userTtlSeconds = 10), 'environments.dev.tokens.userTtlSeconds'],
    ['a retention CloudWatch does not offer', (e: Record<string, any>) => (e.retention.logDays = 10), 'environments.dev.retention.logDays'],
    ['an unknown removal policy', (e: Record<string, any>) => (e.removalPolicy = 'snapshot'), 'environments.dev.removalPolicy'],
    ['a misspelt key', (e: Record<string, any>) => (e.retension = e.retention), 'environments.dev.retension: unknown key'],
    ['a function that does not exist', (e: Record<string, any>) => (e.functions.provisionedConcurrency = { predcit: 2 }), 'environments.dev.functions.provisionedConcurrency'],
    ['a bad e-mail address', (e: Record<string, any>) => (e.ops.emails = ['oncall']), 'environments.dev.ops.emails.0'],
    ['a CORS origin with a path', (e: Record<string, any>) => (e.api.corsOrigins = ['https://example.com/app']), 'environments.dev.api.corsOrigins.0'],
    ['a missing section', (e: Record<string, any>) => delete e.signing, 'environments.dev.signing'],
    [
      'half a hosted zone',
      (e: Record<string, any>) =>
        (e.api.customDomain = {
          domainName: 'twin.example.com',
          certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-123',
          hostedZoneId: 'Z123',
        }),
      'environments.dev.api.customDomain',
    ],
  ])('%s', (_, change, key) => {
    expect(failure(withDev(change))).toContain(key);
  });

  it('names an environment that is not in cdk.json, and the ones that are', () => {
    const message = failure(shipped, 'qa');
    expect(message).toContain('environments.qa');
    expect(message).toContain('dev');
  });

  it('refuses an environment name that cannot name a stack', () => {
    expect(failure(shipped, 'Prod_1')).toContain('env');
  });
});

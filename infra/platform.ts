import { RemovalPolicy, Tags, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { apiPathPatterns } from '../functions/routes.js';
import { resolveEnvironment, type TwinEnvironment } from './environments.js';
import { ApiStack } from './stacks/api-stack.js';
import { DataStack } from './stacks/data-stack.js';
import { DashboardStack } from './stacks/dashboard-stack.js';
import { OpsStack } from './stacks/ops-stack.js';

export interface Twinserve {
  environment: TwinEnvironment;
  data: DataStack;
  api: ApiStack;
  ops: OpsStack;
  dashboard: DashboardStack;
}

export interface TwinserveOptions {
  /**
   * The built dashboard (index.html and assets/).
   * @default dashboard/dist (`npm run build:dashboard`; cdk.json's app command builds it first)
   */
  dashboardAssetsDir?: string;
}

/** The environment an app synthesizes: `-c env=<name>`, default `dev`. */
export function selectedEnvironmentName(app: App): string {
  const name: unknown = app.node.tryGetContext('env');
  return typeof name === 'string' && name.length > 0 ? name : 'dev';
}

/**
 * Adds one environment's stacks to `app` (`Twinserve-<env>-Data`, `-Api`, `-Ops`, `-Dashboard`), validated from the
 * `environments` context of cdk.json, with the cdk-nag AwsSolutions checks run at synth.
 */
export function addTwinserve(app: App, environmentName = selectedEnvironmentName(app), options: TwinserveOptions = {}): Twinserve {
  const environment = resolveEnvironment(app.node.tryGetContext('environments'), environmentName);
  const { config } = environment;
  const retain = config.removalPolicy === 'retain';
  const common = {
    environment,
    env: { account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: config.region },
    // Stacks that keep data cannot be deleted by accident (docs/deploy.md: tear down).
    terminationProtection: retain,
  };
  const prefix = `Twinserve-${environment.name}`;
  const data = new DataStack(app, `${prefix}-Data`, { ...common, description: `Twinserve ${environment.name}: tables, model bucket, signing keys, alerts topic` });
  const api = new ApiStack(app, `${prefix}-Api`, { ...common, data, description: `Twinserve ${environment.name}: HTTP API, JWT authorizer, functions` });
  const ops = new OpsStack(app, `${prefix}-Ops`, { ...common, data, api, description: `Twinserve ${environment.name}: alarms, ops topic, dashboard` });
  const dashboard = new DashboardStack(app, `${prefix}-Dashboard`, {
    env: common.env,
    terminationProtection: retain,
    description: `Twinserve ${environment.name}: web dashboard (S3 + CloudFront)`,
    apiUrl: api.issuer,
    // The API behind the same distribution: the page calls it on its own origin, so no CORS origin has to
    // be known before the distribution exists (a first `cdk deploy --all` works as is).
    apiOrigin: { domainName: api.hostName, pathPatterns: apiPathPatterns() },
    removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    ...(options.dashboardAssetsDir ? { assetsDir: options.dashboardAssetsDir } : {}),
  });
  for (const stack of [data, api, ops, dashboard]) {
    Tags.of(stack).add('project', 'twinserve');
    Tags.of(stack).add('environment', environment.name);
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { environment, data, api, ops, dashboard };
}

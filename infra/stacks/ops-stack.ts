import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { metricDimensions, metricNames, metricsNamespace, metricsService } from '../../functions/observability.js';
import type { TwinFunction } from '../constructs/twin-function.js';
import type { TwinEnvironment } from '../environments.js';
import { functionConstructId, type ApiStack } from './api-stack.js';
import type { DataStack } from './data-stack.js';

export interface OpsStackProps extends StackProps {
  readonly environment: TwinEnvironment;
  readonly data: DataStack;
  readonly api: ApiStack;
}

const period = Duration.minutes(5);

/**
 * Operations: alarms on the API (5xx rate, p99 latency), every function (errors, throttles) and every table
 * (throttled requests), all notifying the ops topic; and one dashboard with requests, latency, errors,
 * predictions per model version, alerts, cache hits and rate limiting. Functions and tables are iterated,
 * so new ones get alarms and graphs without a change here.
 */
export class OpsStack extends Stack {
  readonly opsTopic: Topic;
  readonly alarms: readonly Alarm[];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OpsStackProps) {
    super(scope, id, props);
    const { environment, data, api } = props;
    const { config } = environment;
    const httpApi = api.api;

    // CloudWatch can publish to an encrypted topic only if the key policy lets it: hence a customer managed key.
    const opsKey = new Key(this, 'OpsTopicKey', {
      description: `Twinserve ${environment.name} ops topic encryption`,
      enableKeyRotation: true,
      removalPolicy: config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const cloudwatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    const fromThisAccountsAlarms = {
      StringEquals: { 'aws:SourceAccount': this.account },
      ArnLike: { 'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:*` },
    };
    opsKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [cloudwatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromThisAccountsAlarms,
      }),
    );
    this.opsTopic = new Topic(this, 'OpsTopic', {
      displayName: `Twinserve ${environment.name} operations`,
      masterKey: opsKey,
      enforceSSL: true,
      signatureVersion: '2',
    });
    // The topic policy replaces SNS's default one, so CloudWatch needs an explicit allow.
    this.opsTopic.addToResourcePolicy(
      new PolicyStatement({
        principals: [cloudwatch],
        actions: ['sns:Publish'],
        resources: [this.opsTopic.topicArn],
        conditions: fromThisAccountsAlarms,
      }),
    );
    for (const email of config.ops.emails) this.opsTopic.addSubscription(new EmailSubscription(email));
    const notify = new SnsAction(this.opsTopic);

    const alarms: Alarm[] = [];
    const alarm = (alarmId: string, metric: IMetric, threshold: number, description: string, evaluation = { periods: 1, datapoints: 1 }) => {
      const created = new Alarm(this, alarmId, {
        metric,
        alarmDescription: `Twinserve ${environment.name}: ${description}`,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: evaluation.periods,
        datapointsToAlarm: evaluation.datapoints,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      alarms.push(created);
      return created;
    };

    const requests = httpApi.metricCount({ period, statistic: Stats.SUM });
    const serverErrors = httpApi.metricServerError({ period, statistic: Stats.SUM });
    const clientErrors = httpApi.metricClientError({ period, statistic: Stats.SUM });
    const errorRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { errors: serverErrors, requests },
      period,
      label: '5xx %',
    });
    alarm('Api5xxRate', errorRate, config.ops.alarms.error5xxPercent, `API 5xx responses >= ${config.ops.alarms.error5xxPercent}% of requests`, {
      periods: 3,
      datapoints: 2,
    });
    const p99 = httpApi.metricLatency({ period, statistic: Stats.p(99) });
    alarm('ApiP99Latency', p99, config.ops.alarms.p99LatencyMs, `API p99 latency >= ${config.ops.alarms.p99LatencyMs} ms`, { periods: 3, datapoints: 2 });

    for (const [name, fn] of api.functions) {
      const cid = functionConstructId(name);
      alarm(`${cid}Errors`, fn.function.metricErrors({ period, statistic: Stats.SUM }), 1, `function ${name} failed invocations`);
      alarm(`${cid}Throttles`, fn.function.metricThrottles({ period, statistic: Stats.SUM }), 1, `function ${name} throttled (concurrency exhausted)`);
    }
    const tableThrottles = new Map<string, IMetric>();
    for (const [index, [tableId, table]] of [...data.tables].entries()) {
      // Metric ids must be unique within a graph that shows every table.
      const throttles = new MathExpression({
        expression: `reads${index} + writes${index}`,
        usingMetrics: {
          [`reads${index}`]: table.metric('ReadThrottleEvents', { period, statistic: Stats.SUM }),
          [`writes${index}`]: table.metric('WriteThrottleEvents', { period, statistic: Stats.SUM }),
        },
        period,
        label: tableId,
      });
      tableThrottles.set(tableId, throttles);
      alarm(`${tableId}TableThrottles`, throttles, 1, `DynamoDB table ${tableId} throttled requests`);
    }
    // Failures the functions count (functions/observability.ts), summed over every model with a Metrics
    // Insights query, since models come and go without a stack change.
    const namespace = metricsNamespace(environment.name);
    const acrossModels = (metricName: string) =>
      new MathExpression({
        expression: `SELECT SUM(${metricName}) FROM SCHEMA("${namespace}", ${metricDimensions.model}, service)`,
        usingMetrics: {},
        period,
        label: metricName,
      });
    const alertPublishFailures = acrossModels(metricNames.alertPublishFailures);
    // Held back by a plant's alert cap, summed over plants (functions/core/alerts/cap.ts).
    const alertsSuppressed = new MathExpression({
      expression: `SELECT SUM(${metricNames.alertsSuppressed}) FROM SCHEMA("${namespace}", plant, service)`,
      usingMetrics: {},
      period,
      label: 'held back by the alert cap',
    });
    const modelDegraded = acrossModels(metricNames.modelDegraded);
    const statsWriteFailures = acrossModels(metricNames.statsWriteFailures);
    alarm('StatsWriteFailures', statsWriteFailures, 1, 'prediction statistics could not be written (predictions were still served)');
    alarm('AlertPublishFailures', alertPublishFailures, 1, 'anomaly alerts could not be published to the alerts topic');
    alarm('ModelDegraded', modelDegraded, 1, 'a model fell back to degraded serving');
    this.alarms = alarms;

    // The functions' EMF metrics (functions/observability.ts), in this environment's namespace.
    const emf = (metricName: string, label: string, statistic: string = Stats.SUM) =>
      new Metric({ namespace, metricName, dimensionsMap: { service: metricsService }, period, statistic, label });
    const predictionsByVersion = new MathExpression({
      expression: `SEARCH('{${namespace},${metricDimensions.model},${metricDimensions.modelVersion},service} MetricName="${metricNames.predictions}"', 'Sum', 300)`,
      usingMetrics: {},
      period,
      label: 'predictions',
    });
    const perFunction = (metric: (fn: TwinFunction['function'], label: string) => IMetric) =>
      [...api.functions].map(([name, fn]) => metric(fn.function, name));

    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown: `# Twinserve ${environment.name}\nAPI ${api.issuer} · alarms notify the ops topic · EMF namespace \`${namespace}\``,
            width: 24,
            height: 2,
          }),
        ],
        [
          new GraphWidget({ title: 'Requests', left: [requests.with({ label: 'requests' })], right: [emf(metricNames.requests, 'reached a function')], width: 8 }),
          new GraphWidget({
            title: 'Latency (ms)',
            left: [
              httpApi.metricLatency({ period, statistic: Stats.p(50), label: 'p50' }),
              p99.with({ label: 'p99' }),
              httpApi.metricIntegrationLatency({ period, statistic: Stats.p(99), label: 'integration p99' }),
            ],
            right: [emf(metricNames.latency, 'function p99', Stats.p(99))],
            width: 8,
          }),
          new GraphWidget({
            title: 'Errors',
            left: [serverErrors.with({ label: '5xx' }), clientErrors.with({ label: '4xx' }), emf(metricNames.errors, 'function 5xx')],
            right: [errorRate],
            width: 8,
          }),
        ],
        [
          new GraphWidget({ title: 'Predictions per model version', left: [predictionsByVersion], width: 8 }),
          new GraphWidget({
            title: 'Anomaly alerts',
            left: [emf(metricNames.alerts, 'alerts'), data.alertsTopic.metricNumberOfMessagesPublished({ period, label: 'published to the topic' }), alertsSuppressed],
            right: [alertPublishFailures, modelDegraded, statsWriteFailures],
            width: 8,
          }),
          new GraphWidget({
            title: 'Model cache hits and rate limiting',
            left: [emf(metricNames.modelCacheHits, 'cache hits')],
            right: [emf(metricNames.rateLimited, '429 rate limited')],
            width: 8,
          }),
        ],
        [
          new GraphWidget({
            title: 'Function errors',
            left: perFunction((fn, label) => fn.metricErrors({ period, statistic: Stats.SUM, label })),
            width: 8,
          }),
          new GraphWidget({
            title: 'Function duration p99 (ms)',
            left: perFunction((fn, label) => fn.metricDuration({ period, statistic: Stats.p(99), label })),
            width: 8,
          }),
          new GraphWidget({
            title: 'Function throttles and DynamoDB throttles',
            left: perFunction((fn, label) => fn.metricThrottles({ period, statistic: Stats.SUM, label })),
            right: [...tableThrottles.values()],
            width: 8,
          }),
        ],
        [new AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 4 })],
      ],
    });

    new CfnOutput(this, 'OpsTopicArn', { value: this.opsTopic.topicArn, description: 'Alarm notifications (subscribe here)' });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName });
  }
}

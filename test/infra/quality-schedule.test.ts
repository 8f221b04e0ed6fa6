import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envNames } from '../../functions/config.js';
import { functionDefs } from '../../infra/functions.js';
import { functionNames, routes, schedules } from '../../functions/routes.js';
import { functionConstructId, scheduleConstructId } from '../../infra/stacks/api-stack.js';
import { describeValue, pathOf, resourcesOfType, synthesize, type CfnTemplate, type Synthesized } from '../support/cdk.js';

/**
 * The scheduled quality evaluation in the stacks: one EventBridge rule per entry of functions/routes.ts
 * `schedules`, invoking the function's live alias, which only EventBridge (that rule) may invoke besides the
 * API; the function's role holds the table actions infra/functions.ts declares and nothing of users, keys,
 * rate counters or audit (test/infra/platform.test.ts checks every role against its declaration, and cdk-nag).
 */

let synth: Synthesized;
let api: CfnTemplate;
let all: Record<string, CfnTemplate>;
const describeIn = (value: unknown) => describeValue(value, synth.twinserve.api.stackName, all);

beforeAll(() => {
  synth = synthesize('dev');
  api = synth.templates.api;
  all = { [synth.twinserve.data.stackName]: synth.templates.data, [synth.twinserve.api.stackName]: api, [synth.twinserve.ops.stackName]: synth.templates.ops };
}, 180_000);
afterAll(() => synth?.dispose());

describe('scheduled quality evaluation', () => {
  it('is a function of the table with a schedule and no route', () => {
    expect(schedules).toEqual([expect.objectContaining({ function: 'quality-schedule', everyMinutes: 15, action: 'quality.evaluate' })]);
    expect(functionNames).toContain('quality-schedule');
    expect(routes.filter((r) => r.function === 'quality-schedule')).toEqual([]);
  });

  it('declares only the reads, its served-pairs cursor, the alert claims and the alert cap summaries it sends: no principal state, rate counters or audit', () => {
    const def = functionDefs['quality-schedule'];
    expect(def.tables).toEqual({ Predictions: ['BatchGetItem', 'Query:byModelPlantTime'], Quality: ['GetItem', 'PutItem', 'Query'], AlertState: ['GetItem', 'UpdateItem', 'DeleteItem', 'Query'] });
    expect(def.modelBucket).toBe('read');
    expect(def.alerts).toBe(true);
    expect(def.signingKey).toBeUndefined();
  });

  it('has one rule per schedule, at its rate, targeting the live alias with bounded retries and age', () => {
    const rules = resourcesOfType(api, 'AWS::Events::Rule');
    expect(rules.map(([, r]) => pathOf(r))).toEqual(schedules.map((s) => `${synth.twinserve.api.stackName}/${scheduleConstructId(s)}/Resource`));
    const [, rule] = rules[0]!;
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' });
    const targets = rule.Properties!.Targets as { Arn: unknown; RetryPolicy?: { MaximumRetryAttempts: number; MaximumEventAgeInSeconds: number } }[];
    expect(targets).toHaveLength(1);
    expect(describeIn(targets[0]!.Arn)).toBe(`<${functionConstructId('quality-schedule')}/Live>`);
    expect(targets[0]!.RetryPolicy).toEqual({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 900 });
  });

  it('lets EventBridge invoke the alias only from that rule', () => {
    const permissions = resourcesOfType(api, 'AWS::Lambda::Permission').filter(([, p]) => p.Properties?.Principal === 'events.amazonaws.com');
    expect(permissions).toHaveLength(1);
    const props = permissions[0]![1].Properties!;
    expect(props.Action).toBe('lambda:InvokeFunction');
    expect(describeIn(props.FunctionName)).toBe(`<${functionConstructId('quality-schedule')}/Live>`);
    expect(describeIn(props.SourceArn)).toBe(`<${scheduleConstructId(schedules[0]!)}>`);
  });

  it('gives the function the alerts topic and the tables its code reads, by name', () => {
    const [, fn] = resourcesOfType(api, 'AWS::Lambda::Function').find(([, r]) => pathOf(r).endsWith(`/${functionConstructId('quality-schedule')}/Function/Resource`))!;
    const variables = fn.Properties!.Environment.Variables as Record<string, unknown>;
    expect(envNames.alertsTopicArn in variables).toBe(true);
    const [, policy] = resourcesOfType(api, 'AWS::IAM::Policy').find(([, r]) => pathOf(r).endsWith(`/${functionConstructId('quality-schedule')}/Role/DefaultPolicy/Resource`))!;
    const pairs = (policy.Properties!.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .flatMap((s) => [s.Action].flat().filter((a) => !/^(logs|xray):/.test(a)).flatMap((a) => [s.Resource].flat().map((r) => `${a} ${describeIn(r)}`)))
      .sort();
    expect(pairs).toEqual(
      [
        'dynamodb:BatchGetItem <Predictions>',
        'dynamodb:Query <Predictions>/index/byModelPlantTime',
        'dynamodb:GetItem <Quality>',
        'dynamodb:PutItem <Quality>',
        'dynamodb:Query <Quality>',
        'dynamodb:DeleteItem <AlertState>',
        'dynamodb:GetItem <AlertState>',
        'dynamodb:UpdateItem <AlertState>',
        'dynamodb:Query <AlertState>',
        'sns:Publish <AlertsTopic>',
      ].sort(),
    );
  });
});

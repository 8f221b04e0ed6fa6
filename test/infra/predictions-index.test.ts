import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tables } from '../../infra/tables.js';
import { cdkJsonContext, resourcesOfType, synthesize, type CfnTemplate, type Synthesized } from '../support/cdk.js';

/**
 * The Predictions table's by-model index is keyed by plant (model; `<plant>#<time>#<id>`). CloudFormation
 * changes at most one index of a table per update, so a stack deployed with the former index (`byModelTime`)
 * moves in two deploys: the transition (`transitions.keepFormerPredictionsIndex: true`) adds the new index
 * beside the former one, the next removes the former one (docs/models.md, "Tenancy of the served rows").
 * Both synthesize cdk-nag clean (synthesize throws on an unacknowledged finding); nothing may query the
 * former index.
 */

type Json = Record<string, any>;
let plain: Synthesized;
let transition: Synthesized;

function predictionsTable(template: CfnTemplate): Json {
  const found = resourcesOfType(template, 'AWS::DynamoDB::Table').filter(([id]) => id.startsWith('Predictions'));
  expect(found).toHaveLength(1);
  return found[0]![1].Properties as Json;
}

const indexes = (template: CfnTemplate) => (predictionsTable(template).GlobalSecondaryIndexes as Json[]).map((g) => [g.IndexName, g.KeySchema.map((k: Json) => `${k.KeyType}:${k.AttributeName}`)]);

beforeAll(() => {
  plain = synthesize('dev');
  const environments = structuredClone(cdkJsonContext().environments) as Record<string, Json>;
  environments.dev!.transitions = { keepFormerPredictionsIndex: true };
  transition = synthesize('dev', { environments });
}, 240_000);
afterAll(() => {
  plain?.dispose();
  transition?.dispose();
});

describe('the Predictions index', () => {
  it('is keyed by model, then plant-led sort key, projecting plant and version only', () => {
    expect(tables.find((t) => t.id === 'Predictions')?.globalIndexes).toEqual([{ name: 'byModelPlantTime', partitionKey: 'model', sortKey: 'psk', include: ['plant', 'version'] }]);
    expect(indexes(plain.templates.data)).toEqual([['byModelPlantTime', ['HASH:model', 'RANGE:psk']]]);
    expect(predictionsTable(plain.templates.data).GlobalSecondaryIndexes[0].Projection).toEqual({ ProjectionType: 'INCLUDE', NonKeyAttributes: ['plant', 'version'] });
  });

  it('the transition deploy adds it beside the former index: one index added to a stack that had the former one', () => {
    expect(indexes(transition.templates.data)).toEqual([
      ['byModelPlantTime', ['HASH:model', 'RANGE:psk']],
      ['byModelTime', ['HASH:model', 'RANGE:tsk']],
    ]);
    // The next deploy (the plain template) then removes exactly one: the former.
    const names = (t: CfnTemplate) => (predictionsTable(t).GlobalSecondaryIndexes as Json[]).map((g) => g.IndexName as string);
    expect(names(transition.templates.data).filter((n) => !names(plain.templates.data).includes(n))).toEqual(['byModelTime']);
  });

  it('no role may query the former index, in either deploy', () => {
    for (const synth of [plain, transition]) {
      const text = JSON.stringify(resourcesOfType(synth.templates.api, 'AWS::IAM::Policy').map(([, p]) => p.Properties));
      expect(text).toContain('/index/byModelPlantTime');
      expect(text).not.toContain('byModelTime');
    }
  });
});

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/twin.js';

/**
 * "Inject every clock": the core's classes take an optional `now` and fall back to real time, so a provider in
 * functions/services that forgets to pass the services clock compiles and runs, on the wrong clock (a key's expiry
 * set on real time and judged on the twin's, the principal cache's bound shown only by waiting). This reads every
 * `new X(...)` of the providers with TypeScript's checker: where X's constructor accepts an options object with a
 * `now` member, the call must pass one.
 */

const providerFiles = [
  'functions/services.ts',
  ...readdirSync(join(repoRoot, 'functions/services'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `functions/services/${f}`),
].map((f) => join(repoRoot, f));

function hasNowMember(type: ts.Type, checker: ts.TypeChecker): boolean {
  const parts = type.isUnion() ? type.types : [type];
  return parts.some((t) => t.getProperty('now') !== undefined && (checker.getTypeOfSymbol(t.getProperty('now')!).getCallSignatures().length > 0 || checker.getNonNullableType(checker.getTypeOfSymbol(t.getProperty('now')!)).getCallSignatures().length > 0));
}

/** Whether an argument expression names `now` (a property `now` or `now: …`, or a spread of something with `now`). */
function passesNow(arg: ts.Expression, checker: ts.TypeChecker): boolean {
  if (ts.isObjectLiteralExpression(arg)) {
    return arg.properties.some(
      (p) => ((ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) && p.name.getText() === 'now') || (ts.isSpreadAssignment(p) && hasNowMember(checker.getTypeAtLocation(p.expression), checker)),
    );
  }
  return hasNowMember(checker.getTypeAtLocation(arg), checker);
}

interface Finding {
  file: string;
  line: number;
  created: string;
}

function missingClocks(): { checked: string[]; missing: Finding[] } {
  const config = ts.getParsedCommandLineOfConfigFile(join(repoRoot, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!config) throw new Error('tsconfig.json unreadable');
  const program = ts.createProgram(providerFiles, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const checked: string[] = [];
  const missing: Finding[] = [];
  for (const file of providerFiles) {
    const source = program.getSourceFile(file)!;
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node)) {
        const signature = checker.getResolvedSignature(node);
        const params = signature?.getParameters() ?? [];
        const clockAt = params.findIndex((p) => hasNowMember(checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(p, node)), checker));
        if (clockAt >= 0) {
          const created = node.expression.getText(source);
          checked.push(created);
          const arg = node.arguments?.[clockAt];
          if (!arg || !passesNow(arg, checker)) missing.push({ file: file.slice(repoRoot.length + 1), line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, created });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { checked, missing };
}

describe('the services clock reaches every class that reads one', () => {
  it('every provider passes `now` where the constructor takes it', () => {
    const { checked, missing } = missingClocks();
    // The check sees the classes it is about (a change of shape that hid them would pass vacuously).
    expect(checked).toEqual(expect.arrayContaining(['KeyService', 'PrincipalResolver', 'UserService', 'AuditService', 'ModelRegistry', 'TwinService', 'DynamoDbAuditLog', 'QualityService', 'AlertService']));
    expect(missing).toEqual([]);
  }, 60_000);
});

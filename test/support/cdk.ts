import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { addTwinserve, type Twinserve } from '../../infra/platform.js';

/** cdk.json's context: the environments and the feature flags, exactly as `npx cdk synth` sees them. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

type Json = Record<string, any>;

export interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string; UpdateReplacePolicy?: string; Metadata?: Json }>;
  Outputs?: Record<string, { Value: unknown }>;
}

export interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
    suppressedViolations?: { ruleName: string; acknowledgedId: string; reason?: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

export interface Synthesized {
  twinserve: Twinserve;
  templates: { data: CfnTemplate; api: CfnTemplate; ops: CfnTemplate };
  /** cdk-nag's findings (the policy validation report); undefined when nothing was found at all. */
  report: ValidationReport | undefined;
  outdir: string;
  dispose(): void;
}

export interface SynthOptions {
  /** Replaces cdk.json's environments (tests of configurations that cdk.json does not ship). */
  environments?: unknown;
  /** Stack names to bundle functions for; template tests skip bundling. @default none */
  bundle?: string[];
}

/**
 * Synthesizes one environment the way `npx cdk synth -c env=<name>` does (cdk.json context, cdk-nag), into a
 * temporary directory that {@link Synthesized.dispose} removes. Throws if synthesis fails, which includes
 * any unacknowledged cdk-nag finding.
 */
export function synthesize(environmentName: string, options: SynthOptions = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), `twinserve-cdk-${environmentName}-`));
  try {
    const app = new App({
      outdir,
      context: {
        ...cdkJsonContext(),
        ...(options.environments ? { environments: options.environments } : {}),
        env: environmentName,
        'aws:cdk:enable-path-metadata': true,
        'aws:cdk:bundling-stacks': options.bundle ?? [],
      },
    });
    // A stand-in for dashboard/dist, so template tests need no dashboard build.
    const dashboardAssetsDir = join(outdir, 'dashboard-dist');
    mkdirSync(join(dashboardAssetsDir, 'assets'), { recursive: true });
    writeFileSync(join(dashboardAssetsDir, 'index.html'), '<!doctype html><script type="module" src="./assets/index.js"></script>');
    writeFileSync(join(dashboardAssetsDir, 'assets', 'index.js'), 'export {};');
    const twinserve = addTwinserve(app, environmentName, { dashboardAssetsDir });
    const assembly = app.synth();
    const read = (stackName: string) => assembly.getStackByName(stackName).template as CfnTemplate;
    let report: ValidationReport | undefined;
    try {
      report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as ValidationReport;
    } catch {
      report = undefined;
    }
    return {
      twinserve,
      templates: { data: read(twinserve.data.stackName), api: read(twinserve.api.stackName), ops: read(twinserve.ops.stackName) },
      report,
      outdir,
      dispose: () => rmSync(outdir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

/** Resources of one type, keyed by logical id. */
export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnTemplate['Resources'][string]][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The construct path of a resource (`Twinserve-dev-Api/Predict/Function/Resource`). */
export function pathOf(resource: CfnTemplate['Resources'][string]): string {
  return String(resource.Metadata?.['aws:cdk:path'] ?? '');
}

/**
 * Renders a CloudFormation value as a readable string, naming resources by construct id instead of logical
 * id (its path in the stack) and following cross-stack references into the producing template:
 * `<Users>/index/byOwner`, `<SigningKeyA>`, `<Predict/Logs>`, `*`. Lets assertions say which resource a policy names without hashes.
 */
export function describeValue(value: unknown, stackName: string, templates: Record<string, CfnTemplate>): string {
  const byLogicalId = (inStack: string, logicalId: string) => {
    const template = templates[inStack];
    const resource = template?.Resources[logicalId];
    if (!resource) return `?${logicalId}`;
    // `Twinserve-dev-Api/Predict/Logs/Resource` -> `<Predict/Logs>`
    return `<${pathOf(resource).split('/').slice(1).filter((p) => p !== 'Resource').join('/') || logicalId}>`;
  };
  const visit = (node: unknown, inStack: string): string => {
    if (typeof node === 'string') return node;
    if (Array.isArray(node)) return node.map((n) => visit(n, inStack)).join(',');
    if (node && typeof node === 'object') {
      const obj = node as Json;
      if ('Fn::Join' in obj) {
        const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
        return items.map((i) => visit(i, inStack)).join(delimiter);
      }
      if ('Fn::GetAtt' in obj) return byLogicalId(inStack, String((obj['Fn::GetAtt'] as unknown[])[0]));
      if ('Ref' in obj) return String(obj.Ref).startsWith('AWS::') ? `{${obj.Ref}}` : byLogicalId(inStack, String(obj.Ref));
      if ('Fn::GetStackOutput' in obj) {
        const { StackName, OutputName } = obj['Fn::GetStackOutput'] as { StackName: string; OutputName: string };
        const output = templates[StackName]?.Outputs?.[OutputName];
        return output ? visit(output.Value, StackName) : `?${StackName}.${OutputName}`;
      }
      if ('Fn::ImportValue' in obj) return `import(${JSON.stringify(obj['Fn::ImportValue'])})`;
      if ('Fn::Sub' in obj) return String(obj['Fn::Sub']);
    }
    return JSON.stringify(node);
  };
  return visit(value, stackName);
}

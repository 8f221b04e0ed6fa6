import type { Command } from 'commander';
import type { FeatureRow, OptimizeRequest, SweepRequest, TwinClient } from '../sdk.js';
import { fields, formatNumber, table, type Cell } from './format.js';

/**
 * `twin explain`, `twin sweep`, `twin optimize` (docs/insight.md): the process-insight routes. Registered
 * by client/cli.ts with what the commands share (an authenticated client, output, usage errors).
 */

export interface InsightCliContext {
  authed(cmd: Command): Promise<TwinClient>;
  out(cmd: Command, human: () => string, data: unknown): void;
  usageError(message: string): Error;
}

/** `name=value` pairs (comma- or space-separated) into a row; `what` names the option in errors. */
export function parsePairs(values: string[], what: string, usageError: (m: string) => Error): FeatureRow {
  const row: FeatureRow = {};
  for (const pair of values.flatMap((v) => v.split(',')).filter(Boolean)) {
    const [name, value, ...rest] = pair.split('=');
    const n = Number(value);
    if (!name || value === undefined || value === '' || rest.length || !Number.isFinite(n)) throw usageError(`${what}: expected name=number, got ${pair}`);
    row[name.trim()] = n;
  }
  return row;
}

/** `temp`, `temp=320:380` or `temp=:380` into a feature and optional bounds. */
export function parseRange(spec: string, what: string, usageError: (m: string) => Error): { feature: string; min?: number; max?: number } {
  const [feature, range, ...rest] = spec.split('=');
  if (!feature || rest.length) throw usageError(`${what}: expected name or name=min:max, got ${spec}`);
  if (range === undefined) return { feature };
  const [lo, hi, ...more] = range.split(':');
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  const min = num(lo);
  const max = num(hi);
  if (more.length || (min !== undefined && !Number.isFinite(min)) || (max !== undefined && !Number.isFinite(max))) throw usageError(`${what}: expected name=min:max, got ${spec}`);
  return { feature, ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
}

/** `lower>=80`, `prediction <= 95`, `upper<=97.5` into a constraint. */
export function parseWhere(spec: string, usageError: (m: string) => Error): OptimizeRequest['constraints'] extends (infer C)[] | undefined ? C : never {
  const m = /^\s*(prediction|lower|upper)\s*(>=|<=)\s*(-?[\d.eE+-]+)\s*$/.exec(spec);
  const value = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isFinite(value)) throw usageError(`--where: expected prediction|lower|upper >= or <= a number, got ${spec}`);
  return { target: m[1] as 'prediction' | 'lower' | 'upper', op: m[2] as '>=' | '<=', value };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function bar(value: number, scale: number, width = 24): string {
  const n = scale === 0 ? 0 : Math.round((Math.abs(value) / scale) * width);
  return (value < 0 ? '-' : '+').repeat(n);
}

export function registerInsightCommands(program: Command, ctx: InsightCliContext): void {
  const modelOf = async (client: TwinClient, model: string | undefined) => model ?? (await client.modelInfo()).name;

  program
    .command('explain')
    .description('why the twin predicts what it does: per-feature contributions (TreeSHAP for tree ensembles)')
    .argument('<features...>', 'feature values: temp=360 pressure=6 flow=100')
    .option('-m, --model <name>', 'the model (default: the serving model)')
    .option('--seed <n>', 'seed of a model-agnostic explanation', (v) => Number(v))
    .addHelpText('after', '\nExample:\n  twin explain temp=330 pressure=6 flow=100')
    .action(async (features: string[], opts: { model?: string; seed?: number }, cmd: Command) => {
      const row = parsePairs(features, 'features', ctx.usageError);
      const client = await ctx.authed(cmd);
      const res = await client.explain(await modelOf(client, opts.model), [row], opts.seed === undefined ? {} : { seed: opts.seed });
      const r = res.results[0]!;
      const scale = Math.max(...Object.values(r.contributions).map(Math.abs));
      ctx.out(
        cmd,
        () =>
          fields([
            ['prediction', r.prediction],
            ['expected', r.expected_value],
            ['method', res.method.method],
            ['model', `${res.model.name}@${res.model.version}`],
          ]) +
          table(
            ['feature', 'value', 'contribution', ''],
            Object.entries(r.contributions).map(([f, c]): Cell[] => [f, r.input[f], formatNumber(c), bar(c, scale)]),
          ),
        res,
      );
    });

  program
    .command('sweep')
    .description('what-if map: the prediction over one or two features, the others fixed')
    .requiredOption('--x <feature[=min:max]>', 'the first swept feature (default range: its valid range)')
    .option('--y <feature[=min:max]>', 'the second swept feature')
    .option('--steps <n>', 'grid points per axis (2..100)', (v) => Number(v), 11)
    .option('--fixed <name=value...>', 'values of the other features (default: their mid-range)', collect)
    .option('-m, --model <name>', 'the model (default: the serving model)')
    .option('--show <grid>', 'prediction, lower or upper', 'prediction')
    .addHelpText('after', '\nExample:\n  twin sweep --x temp --y pressure --fixed flow=100 --steps 11')
    .action(async (opts: { x: string; y?: string; steps: number; fixed?: string[]; model?: string; show: string }, cmd: Command) => {
      if (!['prediction', 'lower', 'upper'].includes(opts.show)) throw ctx.usageError('--show: prediction, lower or upper');
      const x = parseRange(opts.x, '--x', ctx.usageError);
      const y = opts.y ? parseRange(opts.y, '--y', ctx.usageError) : undefined;
      const given = parsePairs(opts.fixed ?? [], '--fixed', ctx.usageError);
      const client = await ctx.authed(cmd);
      const info = await client.modelInfo();
      const model = opts.model ?? info.name;
      const fixed: FeatureRow = {};
      if (model === info.name) for (const f of info.feature_specs) if (f.name !== x.feature && f.name !== y?.feature) fixed[f.name] = (f.min + f.max) / 2;
      Object.assign(fixed, given);
      const request: SweepRequest = { x: { ...x, steps: opts.steps }, ...(y ? { y: { ...y, steps: opts.steps } } : {}), fixed };
      const res = await client.sweep(model, request);
      const grid = (opts.show === 'prediction' ? res.prediction : opts.show === 'lower' ? res.lower : res.upper) ?? res.prediction;
      ctx.out(
        cmd,
        () =>
          `${res.model.name}@${res.model.version}: ${opts.show} over ${res.x.feature}${res.y ? ` × ${res.y.feature}` : ''}; fixed ${Object.entries(res.fixed).map(([k, v]) => `${k}=${v}`).join(', ') || '-'}; alert band [${res.alert_band.min}, ${res.alert_band.max}] (* outside)\n` +
          table(
            [res.y ? `${res.y.feature} \\ ${res.x.feature}` : res.x.feature, ...res.x.values.map(formatNumber)],
            grid.map((line, iy): Cell[] => [
              res.y ? formatNumber(res.y.values[iy]!) : opts.show,
              ...line.map((v) => `${formatNumber(v)}${v < res.alert_band.min || v > res.alert_band.max ? '*' : ''}`),
            ]),
          ),
        res,
      );
    });

  program
    .command('optimize')
    .description('best setpoints: maximise or minimise the prediction or an interval bound under constraints')
    .option('--maximize', 'maximise (default)')
    .option('--minimize', 'minimise')
    .option('--target <t>', 'prediction, lower or upper (the interval bounds)', 'prediction')
    .option('--vary <feature[=min:max]...>', 'features to search over (default: every feature not fixed)', collect)
    .option('--fixed <name=value...>', 'values of the features not varied', collect)
    .option('--where <constraint...>', "constraints such as 'lower>=80' or 'upper<=95'", collect)
    .option('--within-envelope', 'search only inside the training envelope')
    .option('--seed <n>', 'seed of the search', (v) => Number(v))
    .option('--max-evaluations <n>', 'evaluation budget (100..20000)', (v) => Number(v))
    .option('-m, --model <name>', 'the model (default: the serving model)')
    .addHelpText('after', "\nExample:\n  twin optimize --maximize --where 'lower>=80' --fixed flow=100")
    .action(
      async (
        opts: { maximize?: boolean; minimize?: boolean; target: string; vary?: string[]; fixed?: string[]; where?: string[]; withinEnvelope?: boolean; seed?: number; maxEvaluations?: number; model?: string },
        cmd: Command,
      ) => {
        if (opts.maximize && opts.minimize) throw ctx.usageError('give --maximize or --minimize, not both');
        if (!['prediction', 'lower', 'upper'].includes(opts.target)) throw ctx.usageError('--target: prediction, lower or upper');
        const fixed = parsePairs(opts.fixed ?? [], '--fixed', ctx.usageError);
        const constraints = (opts.where ?? []).map((w) => parseWhere(w, ctx.usageError));
        const client = await ctx.authed(cmd);
        const info = await client.modelInfo();
        const model = opts.model ?? info.name;
        const ranges = (opts.vary ?? []).map((v) => parseRange(v, '--vary', ctx.usageError));
        if (ranges.length === 0) {
          if (model !== info.name) throw ctx.usageError('--vary is required for a model other than the serving one');
          for (const f of info.feature_specs) if (!(f.name in fixed)) ranges.push({ feature: f.name });
        }
        const request: OptimizeRequest = {
          goal: opts.minimize ? 'minimize' : 'maximize',
          target: opts.target as 'prediction' | 'lower' | 'upper',
          vary: Object.fromEntries(ranges.map(({ feature, ...b }) => [feature, b])),
          fixed,
          constraints,
          ...(opts.withinEnvelope ? { within_envelope: true } : {}),
          ...(opts.seed === undefined ? {} : { seed: opts.seed }),
          ...(opts.maxEvaluations === undefined ? {} : { max_evaluations: opts.maxEvaluations }),
        };
        const res = await client.optimize(model, request);
        ctx.out(
          cmd,
          () =>
            fields([
              [res.feasible ? 'best' : 'NO FEASIBLE POINT', `${res.goal} ${res.target} = ${formatNumber(res.value)}`],
              ...(res.message ? [['note', res.message] as [string, Cell]] : []),
              ...Object.entries(res.setpoints).map(([k, v]): [string, Cell] => [k, formatNumber(v)]),
              ['prediction', res.prediction],
              ['interval', res.confidence_interval ? `[${formatNumber(res.confidence_interval[0])}, ${formatNumber(res.confidence_interval[1])}]` : null],
              ...res.constraints.map((c): [string, Cell] => [`${c.target} ${c.op} ${c.value}`, `${formatNumber(c.actual)} ${c.satisfied ? 'ok' : 'VIOLATED'}`]),
              ['search', `${'per_axis' in res.search.grid ? `grid ${res.search.grid.per_axis}/axis` : `${res.search.grid.sampled} sampled`}, ${res.search.rounds} rounds, ${res.search.evaluations} evaluations, stopped: ${res.search.stopped}, seed ${res.search.seed}`],
              ['model', `${res.model.name}@${res.model.version}`],
            ]),
          res,
        );
      },
    );
}

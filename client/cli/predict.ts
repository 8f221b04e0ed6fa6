/** `twin predict`, `twin batch` and `twin status`. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { runBatchFile, type OutputFormat } from './batch-file.js';
import { CliError, exitCodes, positiveInt, type CliContext, type CliIo } from './context.js';
import { fields, formatNumber, ProgressBar, type Cell } from './format.js';
import { maxBatchRows, type FeatureRow } from '../sdk.js';

export function registerPredict(program: Command, ctx: CliContext): void {
  const { io, authed, out, isJson, setExit } = ctx;

  program
    .command('predict')
    .description('one prediction with its 90 % interval')
    .argument('[features...]', 'feature values: --temp 360 --pressure 6, or temp=360 pressure=6')
    .option('-d, --data <json>', "the row as JSON, @file.json, or - for stdin: '{\"temp\":360,\"pressure\":6,\"flow\":100}'")
    .option('-m, --model <name>', "the model by name (default: the deployment's or your plant's default model)")
    .option('--model-version <version>', 'exactly this version of --model (no A/B routing)')
    .allowUnknownOption()
    .addHelpText('after', '\nThe features are the model\'s (`twin status` lists every model and its features).\nExamples:\n  twin predict --temp 360 --pressure 6 --flow 100\n  twin predict temp=360 pressure=6 flow=100 --json\n  twin predict --model column-purity feed_rate=250 reflux_ratio=3 reboiler_duty=500 top_pressure=1.5')
    .action(async (features: string[], opts: { data?: string; model?: string; modelVersion?: string }, cmd: Command) => {
      if (opts.modelVersion && !opts.model) throw new CliError('--model-version goes with --model', exitCodes.usage);
      const row = await featureRow(features, opts.data, io);
      const client = await authed(cmd);
      const res = await client.predict(row, { ...(opts.model ? { model: opts.model } : {}), ...(opts.modelVersion ? { version: opts.modelVersion } : {}) });
      out(
        cmd,
        () =>
          fields([
            ['prediction', res.prediction],
            ['interval', res.confidence_interval ? `[${formatNumber(res.confidence_interval[0])}, ${formatNumber(res.confidence_interval[1])}]` : null],
            ['model', `${res.model.name}@${res.model.version}`],
            ['inference', `${formatNumber(res.inference_time_ms)} ms${res.from_cache ? ' (cached)' : ''}`],
            ...Object.entries(res.extrapolation).map(([f, flag]): [string, Cell] => [`warning ${f}`, flag.replace(/_/g, ' ')]),
          ]),
        res,
      );
    });

  program
    .command('batch')
    .description('predict every row of a CSV, JSON or JSON Lines file (any size), writing CSV or JSON results')
    .argument('<file>', 'rows: .csv with a header of feature names, .json (array or {inputs}), .jsonl/.ndjson')
    .option('-o, --out <file>', 'where the results go (default: stdout)')
    .addOption(new Option('-f, --format <format>', 'results format (default: from --out, else as the input)').choices(['csv', 'json']))
    .option('-m, --model <name>', "the model by name (default: the deployment's or your plant's default model)")
    .option('--chunk-size <n>', `rows per request (at most ${maxBatchRows})`, positiveInt('--chunk-size', maxBatchRows), maxBatchRows)
    .option('--concurrency <n>', 'requests in flight', positiveInt('--concurrency', 16), 2)
    .option('--progress', 'show a progress bar even when stderr is not a terminal')
    .option('--no-progress', 'no progress bar')
    .addHelpText('after', '\nFailed rows are kept in the output with their error; the exit code is then 3.\nExample:\n  twin batch readings.csv --out predictions.csv')
    .action(async (file: string, opts: { out?: string; format?: OutputFormat; model?: string; chunkSize: number; concurrency: number; progress?: boolean }, cmd: Command) => {
      const client = await authed(cmd);
      const showProgress = opts.progress ?? io.stderrIsTTY;
      const bar = showProgress ? new ProgressBar((s) => io.stderr(s), 'batch') : undefined;
      const started = Date.now();
      const result = await runBatchFile({
        client,
        file: resolve(io.cwd, file),
        ...(opts.out ? { out: resolve(io.cwd, opts.out) } : {}),
        stdout: io.stdout,
        ...(opts.format ? { format: opts.format } : {}),
        chunkSize: opts.chunkSize,
        concurrency: opts.concurrency,
        ...(opts.model ? { model: opts.model } : {}),
        onProgress: (p) => bar?.update(p.fraction, `${p.rows} rows, ${p.failed} failed`),
        ...(io.signal ? { signal: io.signal } : {}),
      });
      bar?.done(`${result.rows} rows, ${result.failed} failed`);
      const seconds = (Date.now() - started) / 1000;
      if (isJson(cmd) && opts.out) {
        io.stdout(`${JSON.stringify({ ...result, seconds }, null, 2)}\n`);
      } else {
        const lines = [`${result.rows} rows: ${result.successful} predicted, ${result.failed} failed (${result.requests} requests, ${formatNumber(seconds)} s)${opts.out ? ` -> ${opts.out}` : ''}`];
        for (const f of result.failures.slice(0, 10)) lines.push(`  row ${f.index}: ${f.error}`);
        if (result.failed > 10) lines.push(`  ... and ${result.failed - 10} more (see the error column)`);
        io.stderr(`${lines.join('\n')}\n`);
      }
      if (result.failed > 0) setExit(exitCodes.partial);
    });

  program
    .command('status')
    .description('service status, the serving model and request counts')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = await authed(cmd);
      const [status, metrics] = await Promise.all([client.status(), client.metrics()]);
      const info = status.model_info;
      out(
        cmd,
        () =>
          fields([
            ['status', status.status],
            ['url', client.baseUrl],
            ['user', status.user],
            ['model', `${info.name}@${info.version} (${info.type}, trained ${info.trained_date})`],
            ['models', status.models.map((m) => `${m.name}@${m.version}`).join(', ')],
            ['features', info.feature_specs.map((f) => `${f.name} [${f.min}, ${f.max}] ${f.unit}`).join(', ')],
            ['interval', info.interval ? JSON.stringify(info.interval) : null],
            ['requests', metrics.total_requests],
            ['predictions', metrics.total_predictions],
            ['cache hit rate', metrics.cache_hit_rate],
            ['uptime', `${formatNumber(metrics.uptime_seconds)} s`],
            ...(status.degraded ?? []).map((d): [string, Cell] => ['degraded', `${d.model}: serving ${d.serving} instead of ${d.wanted} (${d.reason})`]),
          ]),
        { status, metrics },
      );
    });
}

/** The row from `--temp 360 --pressure=6`, `flow=100` and/or `--data`. */
async function featureRow(args: string[], data: string | undefined, io: CliIo): Promise<FeatureRow> {
  const row: Record<string, number> = {};
  if (data !== undefined) {
    const text = data === '-' ? await io.readStdin() : data.startsWith('@') ? await readFile(resolve(io.cwd, data.slice(1)), 'utf8') : data;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError('--data is not valid JSON', exitCodes.usage);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CliError('--data must be a JSON object of feature values', exitCodes.usage);
    Object.assign(row, json);
  }
  const number = (name: string, value: string | undefined): number => {
    if (value === undefined || value === '') throw new CliError(`${name} needs a value`, exitCodes.usage);
    const n = Number(value);
    if (!Number.isFinite(n)) throw new CliError(`${name}=${value} is not a number`, exitCodes.usage);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const option = /^--([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(arg);
    const pair = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(arg);
    if (option) {
      const name = option[1]!;
      row[name] = number(name, option[2] ?? args[++i]);
    } else if (pair) {
      row[pair[1]!] = number(pair[1]!, pair[2]);
    } else {
      throw new CliError(`unexpected ${arg}: give features as --name value or name=value`, exitCodes.usage);
    }
  }
  if (Object.keys(row).length === 0) throw new CliError('give the features: twin predict --temp 360 --pressure 6 --flow 100 (see twin status)', exitCodes.usage);
  return row;
}
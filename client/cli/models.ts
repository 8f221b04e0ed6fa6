/** `twin models …`: packaging, publishing, activation, rollback, A/B routing, stats, pull. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { CliError, exitCodes, type CliContext } from './context.js';
import { fields, table } from './format.js';
import { pullModel } from '../edge.js';

export function registerModels(program: Command, ctx: CliContext): void {
  const { io, authed, out } = ctx;

  const models = program.command('models').description('model packages: package, publish, activate, rollback, A/B routing, stats');
  models
    .command('list')
    .description('models, their active version and routing')
    .action(async (_opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.list();
      out(
        cmd,
        () =>
          table(
            ['model', 'active', 'routing', 'shadow', 'versions'],
            res.models.map((m) => [m.name, m.active, m.variants ? m.variants.map((v) => `${v.version}=${v.weight}`).join(' ') : 'all to active', m.shadow, m.versions.join(' ')]),
          ),
        res,
      );
    });
  models
    .command('versions')
    .description('the published versions of a model')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.versions(name);
      out(
        cmd,
        () =>
          table(
            ['version', 'status', 'created', 'type', 'sha256'],
            res.versions.map((v) => (v.status === 'ok' ? [`${v.version}${v.version === res.active ? ' *' : ''}`, v.status, v.created, v.model_type, v.sha256.slice(0, 12)] : [v.version, v.status, null, null, v.reason])),
          ),
        res,
      );
    });
  models
    .command('package')
    .description('package an ONNX regressor trained elsewhere (manifest.json + model.onnx), checked locally')
    .requiredOption('--onnx <file>', 'the exported graph')
    .requiredOption('--spec <file>', 'JSON: name, version, modelType, target, features, alerts, ...')
    .requiredOption('--out <dir>', 'the package folder, ending in <name>/<version>')
    .option('--calibration <csv>', 'held-out rows: the conformal interval of a single-output model, and the envelope')
    .option('--level <coverage>', "the interval's stated coverage, 0.5..0.99 (default 0.9)", Number)
    .option('--created <date>', 'the manifest date (YYYY-MM-DD)')
    .option('--single', 'do not expand a tree ensemble (boosted trees)')
    .option('--force', 'overwrite an existing package folder')
    .addHelpText('after', '\nSee docs/model-package.md. Then: twin models publish <out dir>')
    .action(async (opts: { onnx: string; spec: string; out: string; calibration?: string; level?: number; created?: string; single?: boolean; force?: boolean }, cmd: Command) => {
      // Loaded on use: it brings onnxruntime, which no other command needs. The same code as `npm run package-model`.
      const { packageModel } = await import('../../models/tools/package/files.js');
      const built = await packageModel({
        onnxPath: resolve(io.cwd, opts.onnx),
        specPath: resolve(io.cwd, opts.spec),
        outDir: resolve(io.cwd, opts.out),
        ...(opts.calibration ? { calibrationPath: resolve(io.cwd, opts.calibration) } : {}),
        ...(opts.level === undefined ? {} : { level: opts.level }),
        ...(opts.created ? { created: opts.created } : {}),
        ...(opts.single ? { single: true } : {}),
        ...(opts.force ? { force: true } : {}),
      });
      out(
        cmd,
        () => `Packaged ${built.manifest.name}@${built.manifest.version} (${built.form}; sha256 ${built.manifest.sha256.slice(0, 12)})\n${built.files.map((f) => `  ${f}`).join('\n')}\n${built.notes.map((n) => `  note: ${n}\n`).join('')}`,
        { name: built.manifest.name, version: built.manifest.version, form: built.form, sha256: built.manifest.sha256, files: built.files, notes: built.notes, ...(built.calibration ? { calibration: built.calibration } : {}) },
      );
    });
  models
    .command('publish')
    .description('publish a package folder (manifest.json + model.onnx); versions are immutable')
    .argument('<dir>', 'the package folder')
    .action(async (dir: string, _opts: unknown, cmd: Command) => {
      const folder = resolve(io.cwd, dir);
      const manifestText = await readFile(join(folder, 'manifest.json'), 'utf8').catch(() => {
        throw new CliError(`${folder} has no manifest.json: package the model first: twin models package --onnx <model.onnx> --spec <spec.json> --out <dir>/<name>/<version>`, exitCodes.usage);
      });
      const manifest = JSON.parse(manifestText) as Record<string, unknown>;
      const model = new Uint8Array(await readFile(join(folder, 'model.onnx')));
      if (typeof manifest.name !== 'string') throw new CliError(`${folder}/manifest.json has no name`, exitCodes.usage);
      const res = await (await authed(cmd)).models.publish(manifest.name, { manifest, model });
      out(cmd, () => `${res.published ? 'Published' : 'Already published (same package)'} ${res.name}@${res.version} (sha256 ${res.sha256.slice(0, 12)})\nActivate it: twin models activate ${res.name} ${res.version}\n`, res);
    });
  const routingText = (res: { name: string; routing: { active: string; variants?: { version: string; weight: number }[] | undefined; shadow?: string | undefined; history?: string[] | undefined } }) =>
    fields([
      ['model', res.name],
      ['active', res.routing.active],
      ['split', res.routing.variants ? res.routing.variants.map((v) => `${v.version}=${v.weight}`).join(' ') : 'all to active'],
      ['shadow', res.routing.shadow ?? null],
      ['history', res.routing.history?.join(' ') ?? null],
    ]);
  models
    .command('activate')
    .description('send all traffic to a version')
    .argument('<name>')
    .argument('<version>')
    .action(async (name: string, version: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.activate(name, version);
      out(cmd, () => routingText(res), res);
    });
  models
    .command('rollback')
    .description('back to the previously active version')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.rollback(name);
      out(cmd, () => routingText(res), res);
    });
  models
    .command('routing')
    .description('show, or set, the A/B split: --split 1.0.0=0.9,1.1.0=0.1')
    .argument('<name>')
    .option('--split <versions>', 'version=weight pairs, weights summing to 1')
    .addOption(new Option('--mode <mode>', 'how a request picks its variant').choices(['random', 'sticky']))
    .addOption(new Option('--sticky-by <key>', 'sticky per principal or per plant').choices(['principal', 'plant']))
    .option('--shadow <version>', 'a version that gets a copy of the traffic (none: no shadow)')
    .action(async (name: string, opts: { split?: string; mode?: 'random' | 'sticky'; stickyBy?: 'principal' | 'plant'; shadow?: string }, cmd: Command) => {
      const client = await authed(cmd);
      if (!opts.split) {
        if (opts.mode || opts.stickyBy || opts.shadow) throw new CliError('--mode, --sticky-by and --shadow go with --split', exitCodes.usage);
        const res = await client.models.versions(name);
        if (!res.routing) throw new CliError(`${name} has no routing`, exitCodes.notFound);
        out(cmd, () => routingText({ name, routing: res.routing! }), { name, routing: res.routing });
        return;
      }
      const variants = opts.split.split(',').map((pair) => {
        const [version, weight] = pair.split('=');
        const w = Number(weight);
        if (!version || weight === undefined || !Number.isFinite(w)) throw new CliError(`--split: ${pair} is not version=weight`, exitCodes.usage);
        return { version: version.trim(), weight: w };
      });
      const res = await client.models.routing(name, {
        variants,
        ...(opts.mode ? { mode: opts.mode } : {}),
        ...(opts.stickyBy ? { sticky_by: opts.stickyBy } : {}),
        ...(opts.shadow ? { shadow: opts.shadow === 'none' ? null : opts.shadow } : {}),
      });
      out(cmd, () => routingText(res), res);
    });
  models
    .command('stats')
    .description('per-variant requests, errors, latency, predictions, cache hits and alerts')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.stats(name);
      out(
        cmd,
        () =>
          table(
            ['version', 'role', 'weight', 'requests', 'errors', 'rows', 'mean ms', 'p95 ms', 'mean pred', 'cache', 'alerts'],
            res.variants.map((v) => [v.version, v.role, v.weight, v.requests, v.errors, v.rows, v.mean_latency_ms, v.p95_latency_ms, v.mean_prediction, v.cache_hit_rate, v.alerts]),
          ),
        res,
      );
    });
  models
    .command('pull')
    .description('download a published package to a local folder (for an edge box)')
    .argument('<name>')
    .argument('<version>')
    .option('--from <url>', 'the Twinserve to download from (default: --url / the profile)')
    .option('--out <dir>', 'where <name>/<version>/ goes', 'models')
    .action(async (name: string, version: string, opts: { from?: string; out: string }, cmd: Command) => {
      const client = await authed(cmd);
      const res = await pullModel({ from: opts.from ?? client.baseUrl, token: client.token!.token, name, version, outDir: resolve(io.cwd, opts.out) });
      out(cmd, () => `${res.written ? 'Pulled' : 'Already present'} ${name}@${version} -> ${res.dir} (${res.bytes} bytes, sha256 ${res.sha256.slice(0, 12)})\n`, { ...res, manifest: undefined });
    });
}

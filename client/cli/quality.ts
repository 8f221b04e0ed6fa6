import type { Command } from 'commander';
import type { QualityResponse, TwinClient } from '../sdk.js';
import { formatNumber, table, type Cell } from './format.js';

/** `twin models quality <name>`: error, coverage, the A/B verdict, recalibration and drift per version. */

const n = (v: number | null | undefined): Cell => (v === null || v === undefined ? '-' : formatNumber(v));

export function qualityText(res: QualityResponse): string {
  const rows: Cell[][] = [];
  for (const v of res.versions) {
    for (const w of res.windows) {
      const s = v.windows[w as 'hour' | 'day' | '7d' | 'all'];
      if (s) rows.push([v.version, w, s.count, n(s.mae), n(s.rmse), n(s.bias), n(s.coverage), n(s.level)]);
    }
  }
  let text = `${res.model} (windows by ${res.window_basis})\n` + table(['version', 'window', 'rows', 'MAE', 'RMSE', 'bias', 'coverage', 'level'], rows);
  if (res.ab) {
    const verdicts = Object.values(res.ab.windows).filter((v): v is NonNullable<typeof v> => v !== null);
    text += `\nA/B ${res.ab.versions.join(' vs ')} (${res.ab.test}, alpha ${res.ab.alpha})\n`;
    text += verdicts.length
      ? table(['window', 'MAE a', 'MAE b', 't', 'p', 'better'], verdicts.map((v) => [v.window, n(v.mae[0]), n(v.mae[1]), n(v.t), n(v.p_value), v.better ?? 'no significant difference']))
      : 'not enough feedback on both variants yet\n';
  }
  text += `\nRecalibration\n` + table(['version', 'enabled', 'factor', 'updates', 'coverage'], res.recalibration.map((r) => [r.version, r.enabled, n(r.factor), r.updates, n(r.coverage)]));
  for (const d of res.drift) {
    text += `\nInput drift of ${d.version} (last day)\n` + table(['feature', 'rows', 'PSI', 'level', 'outside envelope'], d.features.map((f) => [f.feature, f.rows, n(f.psi), f.level ?? '-', n(f.outside_envelope)]));
  }
  return text;
}

export interface QualityCommandContext {
  authed(cmd: Command): Promise<TwinClient>;
  out(cmd: Command, human: () => string, data: unknown): void;
}

/** Adds `quality` under `twin models`. */
export function registerQualityCommand(models: Command, ctx: QualityCommandContext): void {
  models
    .command('quality')
    .description('error, interval coverage, A/B verdict, recalibration and input drift per version')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await ctx.authed(cmd)).quality.view(name);
      ctx.out(cmd, () => qualityText(res), res);
    });
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodes, run } from '../../client/cli.js';
import { parsePairs, parseRange, parseWhere } from '../../client/cli/insight.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { adminPassword, type TestTwin } from '../support/twin.js';

/** `twin explain`, `twin sweep`, `twin optimize` against a local twin, in-process through `run(argv, io)`. */

let t: TestTwin;
let home: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  home = await mkdtemp(join(tmpdir(), 'twin-cli-insight-'));
  const login = await twin(['login', '-u', 'admin', '--password-stdin'], adminPassword);
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await t?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

async function twin(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env: { XDG_CONFIG_HOME: join(home, 'config'), TWIN_URL: t.url },
    readStdin: async () => stdin,
    stderrIsTTY: false,
    cwd: home,
  });
  return { code, stdout, stderr };
}

describe('argument parsing', () => {
  const usage = (m: string) => new Error(m);
  it('pairs, ranges and constraints', () => {
    expect(parsePairs(['temp=360,pressure=6', 'flow=100'], 'x', usage)).toEqual({ temp: 360, pressure: 6, flow: 100 });
    expect(() => parsePairs(['temp=hot'], '--fixed', usage)).toThrow('--fixed: expected name=number, got temp=hot');
    expect(parseRange('temp', '--x', usage)).toEqual({ feature: 'temp' });
    expect(parseRange('temp=320:380', '--x', usage)).toEqual({ feature: 'temp', min: 320, max: 380 });
    expect(parseRange('temp=:380', '--x', usage)).toEqual({ feature: 'temp', max: 380 });
    expect(() => parseRange('temp=a:b', '--x', usage)).toThrow('--x: expected name=min:max');
    expect(parseWhere('lower>=80', usage)).toEqual({ target: 'lower', op: '>=', value: 80 });
    expect(parseWhere(' upper <= 95.5 ', usage)).toEqual({ target: 'upper', op: '<=', value: 95.5 });
    expect(() => parseWhere('lower>80', usage)).toThrow('--where');
  });
});

describe('twin explain / sweep / optimize', () => {
  it('explain prints each contribution; --json gives the API answer', async () => {
    const human = await twin(['explain', 'temp=330', 'pressure=6', 'flow=100']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/method:\s+tree-shap-interventional/);
    expect(human.stdout).toMatch(/temp\s+\|?\s*330\s+\|?\s*-[\d.]+\s+\|?\s*-+/);
    const json = await twin(['explain', 'temp=330', 'pressure=6', 'flow=100', '--json']);
    const res = JSON.parse(json.stdout);
    const r = res.results[0];
    const total = r.expected_value + Object.values(r.contributions as Record<string, number>).reduce((s, v) => s + v, 0);
    expect(Math.abs(total - r.prediction)).toBeLessThan(1e-4);
  });

  it('sweep --x temp --y pressure prints the grid with the fixed values and marks points outside the band', async () => {
    const res = await twin(['sweep', '--x', 'temp', '--y', 'pressure=2:8', '--steps', '5', '--fixed', 'flow=100']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('prediction over temp × pressure; fixed flow=100');
    expect(res.stdout).toMatch(/\*/);
    const json = JSON.parse((await twin(['sweep', '--x', 'temp', '--steps', '3', '--json'])).stdout);
    expect(json.fixed).toEqual({ pressure: 5.5, flow: 100 });
    expect(json.prediction[0]).toHaveLength(3);
  });

  it("optimize --maximize --where 'lower>=80' finds setpoints that satisfy it", async () => {
    const res = await twin(['optimize', '--maximize', '--where', 'lower>=80', '--fixed', 'flow=100', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout);
    expect(json.feasible).toBe(true);
    expect(json.confidence_interval[0]).toBeGreaterThanOrEqual(80);
    expect(Object.keys(json.bounds)).toEqual(['temp', 'pressure']);
    const human = await twin(['optimize', '--minimize', '--vary', 'temp=340:360', '--fixed', 'pressure=6,flow=100', '--where', 'lower>=500']);
    expect(human.stdout).toContain('NO FEASIBLE POINT');
    expect(human.stdout).toContain('VIOLATED');
  });

  it('bad input exits 2 (usage) or 5 (refused by the API), naming the problem', async () => {
    const usage = await twin(['optimize', '--maximize', '--minimize']);
    expect(usage.code).toBe(exitCodes.usage);
    const refused = await twin(['sweep', '--x', 'heat']);
    expect(refused.code).toBe(exitCodes.rejected);
    expect(refused.stderr).toContain('unknown feature heat');
  });
});

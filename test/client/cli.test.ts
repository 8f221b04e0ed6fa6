import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodes, run } from '../../client/cli.js';
import { repoRoot } from '../../infra/local/twin.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { adminPassword, type TestTwin } from '../support/twin.js';

/**
 * The `twin` CLI against a local twin: every command once, in-process through `run(argv, io)` (fast, and
 * with a fake stdin, environment and config home), plus the real `bin/twin.mjs` launcher as a child process.
 */

let t: TestTwin;
let home: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_ROUTING_CACHE_SECONDS: '0' });
  home = await mkdtemp(join(tmpdir(), 'twin-cli-'));
});

afterAll(async () => {
  await t?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `twin <args>` in-process with the twin's URL and a temporary config home. */
async function twin(args: string[], options: { env?: Record<string, string>; stdin?: string; signal?: AbortSignal; tty?: boolean; onStdout?: (text: string) => void } = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (s) => {
      stdout += s;
      options.onStdout?.(stdout);
    },
    stderr: (s) => {
      stderr += s;
    },
    env: { XDG_CONFIG_HOME: join(home, 'config'), TWIN_URL: t.url, ...options.env },
    readStdin: async () => options.stdin ?? '',
    stderrIsTTY: options.tty ?? false,
    cwd: home,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { code, stdout, stderr };
}

const configFile = () => join(home, 'config', 'twinserve', 'config.json');

describe('help and usage', () => {
  const commands = [
    [],
    ['login'],
    ['logout'],
    ['explain'],
    ['sweep'],
    ['optimize'],
    ['predict'],
    ['batch'],
    ['status'],
    ['keys'],
    ['keys', 'create'],
    ['keys', 'list'],
    ['keys', 'revoke'],
    ['keys', 'rotate'],
    ['users'],
    ['users', 'create'],
    ['users', 'list'],
    ['users', 'update'],
    ['users', 'password'],
    ['models'],
    ['models', 'list'],
    ['models', 'versions'],
    ['models', 'package'],
    ['models', 'publish'],
    ['models', 'activate'],
    ['models', 'rollback'],
    ['models', 'routing'],
    ['models', 'stats'],
    ['models', 'pull'],
    ['models', 'quality'],
    ['audit'],
    ['audit', 'export'],
    ['audit', 'import'],
    ['alerts'],
    ['alerts', 'tail'],
    ['edge'],
    ['feedback'],
  ];

  it.each(commands.map((c) => [c.join(' ') || '(no command)', c] as const))('twin %s --help', async (_name, path) => {
    // Act
    const res = await twin([...path, '--help']);

    // Assess
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: twin/);
    // A shell prompt must not land on the help's last line.
    expect(res.stdout.endsWith('\n')).toBe(true);
  });

  it('lists every command of the CLI above (so each gets its --help checked)', async () => {
    // Every "Commands:" entry of every help page, recursively, except the help command itself.
    const found: string[] = [];
    const visit = async (path: string[]) => {
      const { stdout } = await twin([...path, '--help']);
      // The section ends at its first blank line (examples may follow, indented the same way).
      const section = (stdout.split(/^Commands:\n/m)[1] ?? '').split('\n\n')[0]!;
      for (const line of section.split('\n')) {
        const name = /^ {2}([a-z][a-z-]*)/.exec(line)?.[1];
        if (!name || name === 'help') continue;
        found.push([...path, name].join(' '));
        await visit([...path, name]);
      }
    };
    await visit([]);
    expect(found.sort()).toEqual(commands.filter((c) => c.length > 0).map((c) => c.join(' ')).sort());
  });

  it('an unknown command, a bad option value or a missing argument is a usage error (2)', async () => {
    // Act
    const unknown = await twin(['nope']);
    const badValue = await twin(['batch', 'x.csv', '--chunk-size', '500']);
    const missing = await twin(['keys', 'revoke']);

    // Assess
    expect([unknown.code, badValue.code, missing.code]).toEqual([2, 2, 2]);
    expect(unknown.stderr).toContain("unknown command 'nope'");
    for (const res of [unknown, badValue, missing]) expect(res.stderr.endsWith('\n')).toBe(true);
    expect(badValue.stderr).toContain('--chunk-size must be an integer from 1 to 100');
  });

  it('without a login, a command says so and exits 4', async () => {
    // Act
    const res = await twin(['status'], { env: { XDG_CONFIG_HOME: join(home, 'nobody') } });

    // Assess
    expect(res.code).toBe(exitCodes.auth);
    expect(res.stderr).toContain('not logged in (profile default): run `twin login`');
  });
});

describe('login, predict, batch, status', () => {
  it('login stores the token in the profile, in a 0600 file', async () => {
    // Act
    const res = await twin(['login', '-u', 'admin', '--password-stdin'], { stdin: `${adminPassword}\n` });

    // Assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`Logged in to ${t.url} as admin (profile default)`);
    const info = await stat(configFile());
    expect(info.mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(configFile(), 'utf8'));
    expect(config.profiles.default).toMatchObject({ url: t.url, token: expect.any(String), principal: 'admin', expires_at: expect.any(String) });
    expect(JSON.stringify(config)).not.toContain(adminPassword);
  });

  it('a wrong password exits 4 and keeps the stored login', async () => {
    // Act
    const res = await twin(['login', '-u', 'admin'], { env: { TWIN_PASSWORD: 'wrong-password' } });

    // Assess
    expect(res.code).toBe(exitCodes.auth);
    expect(res.stderr).toContain('INVALID_CREDENTIALS (401)');
    expect(JSON.parse(await readFile(configFile(), 'utf8')).profiles.default.token).toEqual(expect.any(String));
  });

  it('predict --temp 360 --pressure 6 --flow 100 prints the prediction and its interval', async () => {
    // Act
    const res = await twin(['predict', '--temp', '360', '--pressure', '6', '--flow', '100']);

    // Assess
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/prediction: +8\d\.\d+/);
    expect(res.stdout).toMatch(/interval: +\[8\d\.\d+, 8\d\.\d+\]/);
    expect(res.stdout).toContain('model:      reactor-yield@1.0.0');
  });

  it('predict takes name=value, --name=value and --data, and answers JSON with --json', async () => {
    // Act
    const pairs = await twin(['predict', 'temp=360', '--pressure=6', 'flow=100', '--json']);
    const data = await twin(['--json', 'predict', '--data', '{"temp":360,"pressure":6,"flow":100}']);

    // Assess
    expect(pairs.code).toBe(0);
    const body = JSON.parse(pairs.stdout);
    expect(body).toMatchObject({ user: 'admin', model_version: '1.0.0', prediction: expect.any(Number) });
    expect(JSON.parse(data.stdout).prediction).toBe(body.prediction);
  });

  it('predict with a value out of range exits 5 naming the field and rule; without features exits 2', async () => {
    // Act
    const invalid = await twin(['predict', '--temp', '460', '--pressure', '6', '--flow', '100']);
    const none = await twin(['predict']);
    const invalidJson = await twin(['predict', '--temp', '460', '--pressure', '6', '--flow', '100', '--json']);

    // Assess
    expect(invalid.code).toBe(exitCodes.rejected);
    expect(invalid.stderr).toContain('INVALID_INPUT (400): temp=460 out of range [300, 400]');
    expect(invalid.stderr).toContain('temp: temp=460 out of range [300, 400] (range)');
    expect(none.code).toBe(exitCodes.usage);
    expect(JSON.parse(invalidJson.stderr)).toMatchObject({ exitCode: 5, code: 'INVALID_INPUT', status: 400, issues: [{ field: 'temp', rule: 'range' }] });
  });

  it('batch streams a CSV of 1050 rows in chunks, writes CSV results with each failed row’s error, exits 3', async () => {
    // Prepare
    const lines = ['temp,pressure,flow'];
    for (let i = 0; i < 1050; i++) lines.push(i === 7 ? '450,6,100' : i === 1000 ? '360,"6",abc' : `${300 + (i % 100)},${1 + (i % 9)},${50 + (i % 100)}`);
    await writeFile(join(home, 'rows.csv'), `${lines.join('\n')}\n`);

    // Act
    const res = await twin(['batch', 'rows.csv', '--out', 'results.csv', '--concurrency', '3', '--progress']);

    // Assess
    expect(res.code, res.stderr).toBe(exitCodes.partial);
    expect(res.stderr).toContain('1050 rows: 1048 predicted, 2 failed (11 requests');
    expect(res.stderr).toContain('row 7: temp=450 out of range [300, 400]');
    expect(res.stderr).toContain('row 1000: flow must be a number, got string');
    expect(res.stderr).toMatch(/batch \[#+\] 100% 1050 rows, 2 failed/);
    const out = (await readFile(join(home, 'results.csv'), 'utf8')).trim().split('\n');
    expect(out).toHaveLength(1051);
    expect(out[0]).toBe('index,temp,pressure,flow,prediction,interval_lower,interval_upper,error');
    expect(out[1]).toMatch(/^0,300,1,50,\d+(\.\d+)?,\d+(\.\d+)?,\d+(\.\d+)?,$/);
    expect(out[8]).toBe('7,450,6,100,,,,"temp=450 out of range [300, 400]"');
    expect(out[1001]).toBe('1000,360,6,abc,,,,"flow must be a number, got string"');
    expect(out[1050]!.startsWith('1049,')).toBe(true);
  });

  it('batch reads JSON and JSON Lines and writes JSON results (to stdout or a file); all rows good exits 0', async () => {
    // Prepare
    const rows = Array.from({ length: 120 }, (_, i) => ({ temp: 300 + (i % 100), pressure: 6, flow: 100 }));
    await writeFile(join(home, 'rows.json'), JSON.stringify({ inputs: rows }));
    await writeFile(join(home, 'rows.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));

    // Act
    const json = await twin(['batch', 'rows.json']);
    const jsonl = await twin(['--json', 'batch', 'rows.jsonl', '--out', 'results.json', '--chunk-size', '50']);

    // Assess
    expect(json.code, json.stderr).toBe(0);
    const results = JSON.parse(json.stdout) as { index: number; prediction: number; input: unknown }[];
    expect(results).toHaveLength(120);
    expect(results[119]).toMatchObject({ index: 119, input: rows[119], prediction: expect.any(Number) });
    expect(jsonl.code).toBe(0);
    expect(JSON.parse(jsonl.stdout)).toMatchObject({ rows: 120, successful: 120, failed: 0, requests: 3, format: 'json' });
    const written = JSON.parse(await readFile(join(home, 'results.json'), 'utf8')) as { prediction: number }[];
    expect(written.map((r) => r.prediction)).toEqual(results.map((r) => r.prediction));
  });

  it('batch of a file it cannot read or parse is a usage error', async () => {
    // Act
    const missing = await twin(['batch', 'nope.csv']);
    const unknownType = await twin(['batch', 'rows.txt']);

    // Assess
    expect(missing.code).toBe(exitCodes.usage);
    expect(unknownType.code).toBe(exitCodes.usage);
    expect(unknownType.stderr).toContain('unknown file type .txt');
  });

  it('status shows the serving model and counts', async () => {
    // Act
    const res = await twin(['status']);
    const json = await twin(['status', '--json']);

    // Assess
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('status:         operational');
    expect(res.stdout).toContain('temp [300, 400] °C');
    expect(JSON.parse(json.stdout).metrics.total_predictions).toBeGreaterThan(1000);
  });
});

describe('keys and users', () => {
  it('keys create, list, rotate, revoke; log in with a key into another profile', async () => {
    // Act
    const created = await twin(['keys', 'create', '--name', 'line 3', '--scopes', 'twin:predict,twin:read', '--rate-limit', '500', '--json']);
    const key = JSON.parse(created.stdout) as { id: string; key: string };
    const list = await twin(['keys', 'list']);
    const machine = await twin(['login', '--api-key-stdin', '-p', 'machine'], { stdin: key.key });
    const predicted = await twin(['predict', '-p', 'machine', 'temp=360', 'pressure=6', 'flow=100']);
    const rotated = await twin(['keys', 'rotate', key.id]);
    const viaEnv = await twin(['status', '--json'], { env: { TWIN_API_KEY: key.key, XDG_CONFIG_HOME: join(home, 'nobody') } });
    const revoked = await twin(['keys', 'revoke', key.id]);
    const missing = await twin(['keys', 'revoke', 'nosuchkey123']);

    // Assess
    expect(created.code, created.stderr).toBe(0);
    expect(key.key).toMatch(/^tw_/);
    expect(list.stdout).toMatch(new RegExp(`${key.id} +line 3 +admin +twin:predict twin:read +active`));
    expect(machine.code, machine.stderr).toBe(0);
    expect(machine.stdout).toContain(`as key:${key.id} (profile machine)`);
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/New key \(shown once\):\ntw_/);
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked ${key.id} (line 3)`);
    expect(missing.code).toBe(exitCodes.notFound);
  });

  it('users create, list, update, password; the new user logs in', async () => {
    // Act
    const created = await twin(['users', 'create', 'cli-viewer', '--role', 'viewer', '--password-stdin'], { stdin: 'cli-viewer-password\n' });
    const updated = await twin(['users', 'update', 'cli-viewer', '--role', 'operator']);
    const password = await twin(['users', 'password', 'cli-viewer'], { env: { TWIN_NEW_PASSWORD: 'cli-viewer-password-2' } });
    const list = await twin(['users', 'list']);
    const login = await twin(['login', '-u', 'cli-viewer', '-p', 'viewer'], { env: { TWIN_PASSWORD: 'cli-viewer-password-2' } });
    const forbidden = await twin(['users', 'list', '-p', 'viewer']);
    const conflict = await twin(['users', 'create', 'cli-viewer', '--role', 'viewer'], { env: { TWIN_NEW_PASSWORD: 'whatever-password' } });

    // Assess
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/cli-viewer +viewer/);
    expect(updated.stdout).toMatch(/cli-viewer +operator/);
    expect(password.stdout).toContain('Password of cli-viewer updated');
    expect(list.stdout).toMatch(/admin +admin/);
    expect(login.code, login.stderr).toBe(0);
    expect(forbidden.code).toBe(exitCodes.auth);
    expect(conflict.code).toBe(exitCodes.rejected);
  });
});

describe('models', () => {
  it('package, publish, versions, activate, rollback, routing, stats, pull, list', async () => {
    // Prepare: a spec for the reference graph, packaged as 2.0.0.
    const manifest = JSON.parse(await readFile(join(repoRoot, 'models', 'reactor-yield', '1.0.0', 'manifest.json'), 'utf8'));
    const spec = { name: 'reactor-yield', version: '2.0.0', modelType: manifest.modelType, target: manifest.target, features: manifest.features, alerts: manifest.alerts };
    await writeFile(join(home, 'spec.json'), JSON.stringify(spec));
    await mkdir(join(home, 'packages'), { recursive: true });

    // Act
    const packaged = await twin(['models', 'package', '--onnx', join(repoRoot, 'models', 'reactor-yield', '1.0.0', 'model.onnx'), '--spec', 'spec.json', '--out', 'packages/reactor-yield/2.0.0', '--created', '2026-11-25']); // date-inert: a package's created date
    const published = await twin(['models', 'publish', 'packages/reactor-yield/2.0.0']);
    const again = await twin(['models', 'publish', 'packages/reactor-yield/2.0.0', '--json']);
    const versions = await twin(['models', 'versions', 'reactor-yield']);
    const activated = await twin(['models', 'activate', 'reactor-yield', '2.0.0']);
    const rolledBack = await twin(['models', 'rollback', 'reactor-yield']);
    const routed = await twin(['models', 'routing', 'reactor-yield', '--split', '1.0.0=0.9,2.0.0=0.1', '--mode', 'sticky', '--shadow', 'none']);
    const shown = await twin(['models', 'routing', 'reactor-yield', '--json']);
    const stats = await twin(['models', 'stats', 'reactor-yield']);
    const pulled = await twin(['models', 'pull', 'reactor-yield', '2.0.0', '--out', 'pulled']);
    const list = await twin(['models', 'list']);
    const badSplit = await twin(['models', 'routing', 'reactor-yield', '--split', '1.0.0']);
    const unknown = await twin(['models', 'versions', 'no-such-model']);

    // Assess
    expect(packaged.code, packaged.stderr).toBe(0);
    expect(packaged.stdout).toContain('Packaged reactor-yield@2.0.0 (per-tree');
    expect(published.stdout).toContain('Published reactor-yield@2.0.0');
    expect(JSON.parse(again.stdout)).toMatchObject({ published: false, already_published: true });
    expect(versions.stdout).toMatch(/1\.0\.0 \* +ok/);
    expect(versions.stdout).toMatch(/2\.0\.0 +ok/);
    expect(activated.stdout).toMatch(/active: +2\.0\.0/);
    expect(rolledBack.stdout).toMatch(/active: +1\.0\.0/);
    expect(routed.code, routed.stderr).toBe(0);
    expect(routed.stdout).toMatch(/split: +1\.0\.0=0\.9 2\.0\.0=0\.1/);
    expect(JSON.parse(shown.stdout).routing).toMatchObject({ active: '1.0.0', mode: 'sticky' });
    expect(stats.stdout).toMatch(/VERSION +ROLE +WEIGHT/);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await readFile(join(home, 'pulled', 'reactor-yield', '2.0.0', 'model.onnx'))).toEqual(await readFile(join(home, 'packages', 'reactor-yield', '2.0.0', 'model.onnx')));
    expect(list.stdout).toMatch(/reactor-yield +1\.0\.0 +1\.0\.0=0\.9 2\.0\.0=0\.1/);
    expect(badSplit.code).toBe(exitCodes.usage);
    expect(unknown.code).toBe(exitCodes.notFound);
  });
});

describe('audit and alerts', () => {
  it('audit --since 1h lists records; --all --json follows the pages; export and import round-trip', async () => {
    // Act
    const table = await twin(['audit', '--since', '1h', '--action', 'twin.predict']);
    const all = await twin(['audit', '--since', '1h', '--limit', '5', '--all', '--json']);
    const exported = await twin(['audit', 'export', '--since', '1h', '--out', 'audit.jsonl']);
    const imported = await twin(['audit', 'import', 'audit.jsonl', '--json']);
    const badSince = await twin(['audit', '--since', 'yesterday']);

    // Assess
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/TIME +PRINCIPAL +ACTION/);
    expect(table.stdout).toContain('POST /api/v1/twin/predict');
    const items = JSON.parse(all.stdout).items as { requestId: string }[];
    expect(items.length).toBeGreaterThan(5);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/Exported \d+ audit records/);
    expect(JSON.parse(imported.stdout).audit.duplicate).toBeGreaterThan(0);
    expect(badSince.code).toBe(exitCodes.usage);
  });

  it('alerts tail shows the latest alerts (API and the local SNS sink file), --follow prints new ones until stopped', async () => {
    // Prepare: an alert (admin, far below the band).
    const low = await twin(['predict', '--temp', '300', '--pressure', '6', '--flow', '100']);
    expect(low.code).toBe(0);

    // Act
    const tail = await twin(['alerts', 'tail']);
    const file = await twin(['alerts', 'tail', '--file', join(t.dataDir, 'alerts.jsonl'), '--json']);
    const controller = new AbortController();
    let listed = false;
    let printed = false;
    const following = twin(['alerts', 'tail', '--follow', '-n', '1'], {
      signal: controller.signal,
      onStdout: (text) => {
        listed ||= text.includes('below_min');
        printed ||= text.includes('cli-viewer');
      },
    });
    // The follower has listed the latest alert (then it connects to the stream, which replays recent ones).
    for (let i = 0; i < 200 && !listed; i++) await new Promise((r) => setTimeout(r, 50));
    // Another principal's breach: a new alert (the cooldown is per principal). Then Ctrl-C (the signal).
    for (let i = 0; i < 100 && !printed; i++) {
      const breach = await twin(['predict', '-p', 'viewer', '--temp', '300', '--pressure', '6', '--flow', '100']);
      expect(breach.code, breach.stderr).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
    }
    controller.abort();
    const done = await following;

    // Assess
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).toMatch(/CRITICAL +reactor-yield@1\.0\.0 +below_min +prediction \d/);
    expect(file.code, file.stderr).toBe(0);
    expect(JSON.parse(file.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'anomaly', rule: 'below_min' });
    expect(listed).toBe(true);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/below_min .*cli-viewer/);
  });

  it('logout forgets the token: the next command exits 4', async () => {
    // Act
    const out = await twin(['logout', '-p', 'viewer']);
    const after = await twin(['status', '-p', 'viewer']);

    // Assess
    expect(out.code).toBe(0);
    expect(after.code).toBe(exitCodes.auth);
    expect(JSON.parse(await readFile(configFile(), 'utf8')).profiles.viewer).toEqual({ url: t.url });
  });

  it('an API that does not answer exits 8', async () => {
    // Act
    const res = await twin(['status', '--url', 'http://127.0.0.1:9', '--timeout', '2000'], { env: { TWIN_TOKEN: 'x' } });

    // Assess
    expect(res.code).toBe(exitCodes.unavailable);
    expect(res.stderr).toContain('NETWORK_ERROR');
  });
});

describe('the installed command', () => {
  const exec = promisify(execFile);

  it('bin/twin.mjs runs the CLI (npx twin): --version, and a command with the token from the environment', async () => {
    // Prepare
    const token = JSON.parse(await readFile(configFile(), 'utf8')).profiles.default.token as string;
    const env = { ...process.env, TWIN_URL: t.url, TWIN_TOKEN: token, XDG_CONFIG_HOME: join(home, 'nobody') };

    // Act
    const version = await exec(process.execPath, [join(repoRoot, 'bin', 'twin.mjs'), '--version'], { env });
    const status = await exec(process.execPath, [join(repoRoot, 'bin', 'twin.mjs'), 'status', '--json'], { env });
    const failed = await exec(process.execPath, [join(repoRoot, 'bin', 'twin.mjs'), 'predict', '--temp', '999', '--pressure', '6', '--flow', '100'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );

    // Assess
    expect(version.stdout.trim()).toBe((JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);
    expect(JSON.parse(status.stdout).status.status).toBe('operational');
    expect(failed).toMatchObject({ code: exitCodes.rejected });
    expect((failed as { stderr: string }).stderr).toContain('temp=999 out of range');
  });
});

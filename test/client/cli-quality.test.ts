import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodes, run } from '../../client/cli.js';
import { FeedbackFileError, parseFeedbackCsv } from '../../client/cli/feedback.js';
import { relaxedLoginEnv, startTwinWithEnv } from '../support/identity.js';
import { apiClient, login, type TestTwin } from '../support/twin.js';

/** `twin feedback file.csv` and `twin models quality` against a local twin, in-process. */

let t: TestTwin;
let home: string;
let token: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_ROUTING_CACHE_SECONDS: '0' });
  home = await mkdtemp(join(tmpdir(), 'twin-cli-quality-'));
  token = await login(apiClient(t.url));
});

afterAll(async () => {
  await t?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

async function twin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { XDG_CONFIG_HOME: join(home, 'config'), TWIN_URL: t.url, TWIN_TOKEN: token },
    readStdin: async () => '',
    stderrIsTTY: false,
    cwd: home,
  });
  return { code, stdout, stderr };
}

describe('twin feedback and twin models quality', () => {
  it('sends a CSV of lab results; rows not accepted are listed and exit 3', async () => {
    // Prepare: two predictions, their request ids in a CSV with an unknown one.
    const api = apiClient(t.url);
    const ids: string[] = [];
    for (const temp of [352, 353]) ids.push((await api('POST', '/api/v1/twin/predict', { token, body: { temp, pressure: 6, flow: 100 } })).headers.get('x-request-id')!);
    await writeFile(join(home, 'lab.csv'), `request_id,value\n${ids[0]},82.5\n${ids[1]},83\nnot-a-request,80\n`);
    // Act
    const res = await twin(['feedback', 'lab.csv']);
    // Assess
    expect(res.code, res.stderr).toBe(exitCodes.partial);
    expect(res.stdout).toContain('reactor-yield: 2 accepted, 0 duplicate, 1 unknown, 0 expired (of 3)');
    expect(res.stdout).toMatch(/3\s+unknown\s+not-a-request/);
    const quality = await twin(['models', 'quality', 'reactor-yield']);
    expect(quality.code, quality.stderr).toBe(exitCodes.ok);
    expect(quality.stdout).toMatch(/1\.0\.0\s+all\s+2\s/);
    expect(quality.stdout).toContain('Input drift of 1.0.0');
    const json = JSON.parse((await twin(['--json', 'models', 'quality', 'reactor-yield'])).stdout);
    expect(json.versions[0].windows.all.count).toBe(2);
  });

  it('refuses a file without a value column as usage (exit 2)', async () => {
    await writeFile(join(home, 'bad.csv'), 'request_id,yield\nabc,80\n');
    const res = await twin(['feedback', 'bad.csv']);
    expect(res.code).toBe(exitCodes.usage);
    expect(res.stderr).toContain('no value column');
  });

  it('parses rows by inputs and time, and names the line of a bad value', () => {
    expect(parseFeedbackCsv('temp,pressure,flow,time,value\n360,6,100,2031-01-01T00:00:00Z,84\n')).toEqual([{ inputs: { temp: 360, pressure: 6, flow: 100 }, time: '2031-01-01T00:00:00Z', value: 84 }]);
    expect(parseFeedbackCsv('request_id,index,value\nr1,3,84\n')).toEqual([{ request_id: 'r1', index: 3, value: 84 }]);
    expect(() => parseFeedbackCsv('request_id,value\nr1,high\n')).toThrow(FeedbackFileError);
    expect(() => parseFeedbackCsv('request_id,value\nr1,high\n')).toThrow(/line 2/);
  });
});

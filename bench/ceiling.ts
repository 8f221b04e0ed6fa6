import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { runLoad } from './http.js';
import { median, round } from './stats.js';

/**
 * The machine's ceiling for the predict load (stage `ceiling`): a bare node HTTP server in its own process that
 * reads and parses each body as JSON and answers a fixed prediction-sized JSON, under the load generator the
 * `http` stage uses (same connections, same bodies, a bearer header of a token's size). No token check, no
 * inference, no store: what this machine and node's HTTP stack carry before any of the twin's work, so the twin's
 * figures can be read against it (docs/performance.md, "Where issue 16 stands").
 */

export interface CeilingResult {
  connections: number;
  rps: number;
  p99Ms: number;
  /** CPU per request of the server process (every thread), µs. */
  serverCpuUs: number;
  /** CPU per request of the load generator (this process), µs. */
  clientCpuUs: number;
  loadAverages: number[];
}

const serverSource = `
const http = require('node:http');
const answer = JSON.stringify({ prediction: 84.1, confidence_interval: [82.8, 84.7], model_version: '1.0.0', request_id: 'x'.repeat(20), extrapolation: {} });
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

export async function runCeiling(options: { reps: number; durationSec: number; warmupSec: number; body: () => string }): Promise<CeilingResult> {
  const child = spawn(process.execPath, ['-e', serverSource], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`the ceiling server exited (${code})`)));
    });
    const base = { url: `http://127.0.0.1:${port}`, path: '/api/v1/twin/predict', token: 'x'.repeat(800), body: options.body, connections: 16 };
    await runLoad({ ...base, durationSec: options.warmupSec });
    const rps: number[] = [];
    const p99: number[] = [];
    const server: number[] = [];
    const client: number[] = [];
    const loads: number[] = [];
    for (let rep = 0; rep < options.reps; rep++) {
      loads.push(round(loadavg()[0]!, 2));
      const s0 = cpuUs(child.pid!);
      const c0 = process.cpuUsage();
      const run = await runLoad({ ...base, durationSec: options.durationSec });
      const c = process.cpuUsage(c0);
      rps.push(run.rps);
      p99.push(run.p99Ms);
      server.push((cpuUs(child.pid!) - s0) / run.requests);
      client.push((c.user + c.system) / run.requests);
    }
    return { connections: 16, rps: median(rps), p99Ms: median(p99), serverCpuUs: median(server), clientCpuUs: median(client), loadAverages: loads };
  } finally {
    child.kill();
  }
}

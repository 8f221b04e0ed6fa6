import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { adminClaims, coldStartResultPrefix as resultPrefix, httpEvent, lambdaContext, type Handler } from './event.js';

/**
 * One cold start, in a fresh process: load the predict function's module, then one prediction through its
 * handler (API Gateway v2 event, in-process), against stores that are already up in another process (the
 * environment names them). Times are milliseconds since this process started (performance.timeOrigin).
 *
 * `node <this file, bundled> <predict bundle>` for the Lambda artifact, or
 * `node --import tsx bench/cold-start.ts functions/predict.ts` for the sources. Prints one line:
 * `BENCH_RESULT {"importedMs", "firstMs", "cpuMs", "warmMs", "status", "rssBytes"}`. `cpuMs` is the CPU time
 * of the process (every thread, user and system) to the first prediction: on a shared machine it moves far
 * less with the load than the wall-clock `firstMs`.
 */

const modulePath = process.argv[2];
if (!modulePath) throw new Error('usage: cold-start <handler module>');
const issuer = process.env.TWIN_ISSUER ?? '';
const audience = process.env.TWIN_AUDIENCE ?? '';

const { handler } = (await import(pathToFileURL(resolve(modulePath)).href)) as { handler: Handler };
const importedMs = performance.now();
const claims = adminClaims(issuer, audience);
const invoke = (temp: number) =>
  handler(httpEvent({ method: 'POST', path: '/api/v1/twin/predict', body: { temp, pressure: 6, flow: 100 }, claims }), lambdaContext('predict'));
const first = await invoke(360);
const firstMs = performance.now();
const cpu = process.cpuUsage();
const cpuMs = (cpu.user + cpu.system) / 1000;
// A second, warm invocation for scale (a different row, so a prediction cache cannot answer it).
const warmStarted = performance.now();
const second = await invoke(355);
const warmMs = performance.now() - warmStarted;
const status = first.statusCode === 200 && second.statusCode === 200 ? 200 : (first.statusCode ?? 0);
if (status !== 200) process.stderr.write(`cold start: first prediction answered ${first.statusCode}: ${first.body}\n`);
const rssBytes = process.memoryUsage().rss;
process.stdout.write(`${resultPrefix}${JSON.stringify({ importedMs, firstMs, cpuMs, warmMs, status, rssBytes })}\n`);
// Open keep-alive sockets of the SDK clients would keep the process alive.
process.exit(status === 200 ? 0 : 1);

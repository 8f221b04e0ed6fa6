import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { adminClaims, coldStartResultPrefix as resultPrefix, httpEvent, lambdaContext, type Handler } from './event.js';
import { readReferencePackage, rowSource } from './fixtures.js';
import { percentiles, repeated, type Repeated } from './stats.js';

/**
 * The handler stage: the predict and batch Lambda handlers invoked in-process with API Gateway v2 events
 * (claims as the JWT authorizer passes them), one invocation at a time as Lambda runs them, against the
 * embedded stores of the serving process (the environment names them). Each invocation pays the middleware
 * (claims, rate limit, body, audit, log line) and the core's DynamoDB writes, over loopback.
 *
 * Runs in its own process (`node --import tsx bench/handler-stage.ts`, options in BENCH_HANDLER_OPTIONS),
 * so the functions' environment and log lines stay out of the bench; prints one `BENCH_RESULT` line.
 */

export interface HandlerStageOptions {
  reps: number;
  predictCalls: number;
  batchCalls: number;
}

export interface HandlerFigure {
  /** Per rep: the median and p99 of the invocations (ms); reported as the median over reps. */
  p50Ms: Repeated;
  p99Ms: Repeated;
  invocations: number;
  non200: number;
}

export interface HandlerStageResult {
  predict: HandlerFigure;
  batch: HandlerFigure;
  /** This process's RSS after the runs: the handlers without the stores, as a Lambda container holds them. */
  rssBytes: number;
}

async function measure(reps: number, calls: number, invoke: () => Promise<number>): Promise<HandlerFigure> {
  const p50: number[] = [];
  const p99: number[] = [];
  let non200 = 0;
  for (let rep = 0; rep < reps; rep++) {
    const times: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      const status = await invoke();
      times.push(performance.now() - t0);
      if (status !== 200) non200++;
    }
    const [a, b] = percentiles(times, [50, 99]);
    p50.push(a!);
    p99.push(b!);
  }
  return { p50Ms: repeated(p50), p99Ms: repeated(p99), invocations: reps * calls, non200 };
}

export async function runHandlerStage(options: HandlerStageOptions): Promise<HandlerStageResult> {
  const predictModule = (await import('../functions/predict.js')) as { handler: Handler };
  const batchModule = (await import('../functions/batch.js')) as { handler: Handler };
  const { disposeServices } = await import('../functions/services.js');
  const nextRow = rowSource(readReferencePackage().manifest, 5);
  const claims = adminClaims(process.env.TWIN_ISSUER ?? '', process.env.TWIN_AUDIENCE ?? '');
  const predict = async () =>
    (await predictModule.handler(httpEvent({ method: 'POST', path: '/api/v1/twin/predict', body: nextRow(), claims }), lambdaContext('predict'))).statusCode ?? 0;
  const batch = async () =>
    (
      await batchModule.handler(
        httpEvent({ method: 'POST', path: '/api/v1/twin/batch', body: { inputs: Array.from({ length: 100 }, nextRow) }, claims }),
        lambdaContext('batch'),
      )
    ).statusCode ?? 0;
  try {
    // Warm: the container's first invocation loads the model (that is the cold-start stage's figure).
    for (let i = 0; i < 30; i++) await predict();
    for (let i = 0; i < 10; i++) await batch();
    const predictFigure = await measure(options.reps, options.predictCalls, predict);
    const batchFigure = await measure(options.reps, options.batchCalls, batch);
    return { predict: predictFigure, batch: batchFigure, rssBytes: process.memoryUsage().rss };
  } finally {
    await disposeServices();
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const options = JSON.parse(process.env.BENCH_HANDLER_OPTIONS ?? '{}') as HandlerStageOptions;
  const result = await runHandlerStage(options);
  process.stdout.write(`${resultPrefix}${JSON.stringify(result)}\n`);
  process.exit(0);
}

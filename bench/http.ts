import autocannon from 'autocannon';
import { percentiles } from './stats.js';

/**
 * One bounded load run with autocannon against the local twin on loopback: a fixed number of connections,
 * each sending the next request as soon as the previous answer arrives, for `durationSec`. Every request
 * carries the bearer token and a fresh body (so the prediction cache never answers).
 *
 * Latency percentiles are computed here from autocannon's per-response times (float milliseconds, every
 * response); its own histogram keeps whole milliseconds, too coarse for sub-millisecond answers.
 */

export interface LoadOptions {
  url: string;
  path: string;
  token: string;
  body: () => string;
  connections: number;
  durationSec: number;
}

export interface LoadResult {
  connections: number;
  durationSec: number;
  requests: number;
  /** 2xx answers per second. */
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(options.url)) throw new Error(`load only against 127.0.0.1, not ${options.url}`);
  const times: number[] = [];
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSec,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: options.path,
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: options.body() }),
      },
    ],
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    times.push(responseTime);
  });
  const result = await instance;
  const [p50, p90, p99, max] = percentiles(times, [50, 90, 99, 100]);
  const ok = result['2xx'];
  return {
    connections: options.connections,
    durationSec: result.duration,
    requests: times.length,
    rps: ok / result.duration,
    p50Ms: p50!,
    p90Ms: p90!,
    p99Ms: p99!,
    maxMs: max!,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, Number(s.count)])),
  };
}

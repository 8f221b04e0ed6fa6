import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode =
  | { kind: 'ok' }
  /** Connections are cut at once (the service is unreachable). */
  | { kind: 'down' }
  /** Every request waits this long first. */
  | { kind: 'slow'; delayMs: number }
  /** DynamoDB's throttling answer (400 ThrottlingException), which the SDK retries and then surfaces. */
  | { kind: 'throttle' }
  /** A 500 from the service. */
  | { kind: 'error' };

/**
 * A switchable HTTP proxy in front of an embedded store, for fault-injection tests (off unless the local
 * twin is started with `faults: true`, so normal runs and benchmarks pay nothing).
 */
/** One request forwarded and its answer, as a {@link FaultProxy.tap} sees them (DynamoDB: JSON both ways). */
export interface ProxyExchange {
  /** The `x-amz-target` header (DynamoDB's operation), or '' for another service. */
  target: string;
  request: string;
  status: number;
  response: string;
}

export class FaultProxy {
  private server: Server | undefined;
  mode: FaultMode = { kind: 'ok' };
  /**
   * When set, each forwarded request's body and its answer are buffered and handed here (tests count what a
   * route makes the store read); unset, bodies stream through untouched.
   */
  tap: ((exchange: ProxyExchange) => void) | undefined;

  constructor(private readonly target: string) {}

  async listen(): Promise<string> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      const mode = this.mode;
      if (mode.kind === 'down') {
        req.socket.destroy();
        return;
      }
      if (mode.kind === 'throttle' || mode.kind === 'error') {
        req.resume();
        req.on('end', () => {
          const throttle = mode.kind === 'throttle';
          res.writeHead(throttle ? 400 : 500, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'fault' });
          res.end(JSON.stringify(throttle ? { __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' } : { __type: 'InternalServerError', message: 'injected fault' }));
        });
        return;
      }
      const forward = () => {
        const tap = this.tap;
        const sentChunks: Buffer[] = [];
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            if (!tap) return void up.pipe(res);
            const answer: Buffer[] = [];
            up.on('data', (chunk: Buffer) => answer.push(chunk));
            up.on('end', () => {
              tap({ target: String(req.headers['x-amz-target'] ?? ''), request: Buffer.concat(sentChunks).toString('utf8'), status: up.statusCode ?? 502, response: Buffer.concat(answer).toString('utf8') });
              res.end(Buffer.concat(answer));
            });
          },
        );
        upstream.on('error', () => req.socket.destroy());
        if (tap) req.on('data', (chunk: Buffer) => sentChunks.push(chunk));
        req.pipe(upstream);
      };
      if (mode.kind === 'slow') setTimeout(forward, mode.delayMs);
      else forward();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

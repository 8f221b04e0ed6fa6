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
export class FaultProxy {
  private server: Server | undefined;
  mode: FaultMode = { kind: 'ok' };

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
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', () => req.socket.destroy());
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

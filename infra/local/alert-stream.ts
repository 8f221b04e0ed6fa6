import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SinkMessage, SnsSink } from './sns-sink.js';

/**
 * `GET /api/v1/alerts/stream[?replay=N]` with `Authorization: Bearer <token>`: the local SNS sink's messages
 * as server-sent events, for the dashboard's live alert feed (read with fetch, so the token stays in a header
 * and out of URLs and logs). Local twin only (API Gateway HTTP APIs do not stream; in AWS the dashboard reads
 * GET /api/v1/alerts). The token is checked as the authorizer does (scope twin:read).
 */
export function alertStream(sns: SnsSink, verify: (token: string, scopes: readonly string[]) => Promise<boolean>) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api/v1/alerts/stream' || req.method !== 'GET') return false;
    const token = req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? '';
    const replay = Math.min(100, Math.max(0, Number(url.searchParams.get('replay') ?? 20) || 0));
    void verify(token, ['twin:read']).then(async (ok) => {
      if (!ok) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Unauthorized' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      const send = (m: SinkMessage) => res.write(`id: ${m.messageId}\nevent: alert\ndata: ${JSON.stringify(m)}\n\n`);
      for (const m of await sns.recent(replay)) send(m);
      const unsubscribe = sns.subscribe(send);
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      req.on('close', () => {
        clearInterval(keepAlive);
        unsubscribe();
      });
    });
    return true;
  };
}

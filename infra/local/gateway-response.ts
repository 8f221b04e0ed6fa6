/**
 * An answer the gateway gives on its own (API Gateway's status and `{message}` body), thrown from any step;
 * `issues` (the house's `{field, rule, message}`) when the refusal is about one part of the request.
 */
export class GatewayResponse extends Error {
  constructor(
    readonly statusCode: number,
    readonly apiMessage: string,
    readonly issues?: readonly { field: string; rule: string; message: string }[],
  ) {
    super(apiMessage);
  }
}

/**
 * What the gateway answers when Node's HTTP parser refuses a request before any route sees it: a header block
 * over Node's 16 KB (431), a request that does not parse, a duplicate Content-Length, Content-Length beside
 * Transfer-Encoding or an unknown transfer coding (400: request smuggling), a request too slow to arrive (408).
 * The body is API Gateway's JSON `{message}` (Node's default answer has none), and the connection is closed, so
 * nothing after a smuggled request is ever read as a request. Undefined when there is nobody to answer.
 */
export function parserRefusal(error: { code?: string }): string | undefined {
  if (error.code === 'ECONNRESET') return undefined;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  const body = JSON.stringify({ message });
  return `HTTP/1.1 ${status} ${message}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

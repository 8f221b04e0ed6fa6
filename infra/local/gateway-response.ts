/** An answer the gateway gives on its own (API Gateway's status and `{message}` body), thrown from any step. */
export class GatewayResponse extends Error {
  constructor(
    readonly statusCode: number,
    readonly apiMessage: string,
  ) {
    super(apiMessage);
  }
}

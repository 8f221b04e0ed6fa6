import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs (Powertools): the same lines in Lambda and on the local twin's stdout. */
export const logger = new Logger({ serviceName: 'twinserve' });

import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { logger } from '../observability.js';
import { getServices, type Services } from '../services.js';

/** The parts of EventBridge's scheduled event a run reads; anything else is refused (not a schedule). */
export const scheduledEventSchema = z.object({
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
  time: z.iso.datetime(),
});
export type ScheduledEvent = z.infer<typeof scheduledEventSchema>;

/** The event the local twin's timers send, shaped as EventBridge sends it. */
export function scheduledEvent(at: Date, rule: string): ScheduledEvent & Record<string, unknown> {
  return { version: '0', id: `local-${at.getTime()}`, source: 'aws.events', 'detail-type': 'Scheduled Event', account: 'local', time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'), region: 'local', resources: [rule], detail: {} };
}

export type ScheduledHandler = (event: unknown, context?: Context) => Promise<Record<string, unknown>>;

/**
 * A function run on a schedule: no principal, no route. The event is checked (a function URL or a test
 * invoking it with anything else gets an error, not a run), the run's summary is logged with its action, and
 * a failure is thrown so Lambda records it (and retries the asynchronous invocation).
 */
export function scheduled(action: string, fn: (services: Services) => Promise<Record<string, unknown>>): ScheduledHandler {
  return async (event) => {
    const parsed = scheduledEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`${action}: not an EventBridge scheduled event`);
    const result = await fn(getServices());
    logger.info(action, { scheduledAt: parsed.data.time, ...result });
    return { action, ...result };
  };
}

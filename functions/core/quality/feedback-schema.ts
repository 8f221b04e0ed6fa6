import * as z from 'zod';

/**
 * The feedback route's body and answer (POST /api/v1/models/{name}/feedback; the service is ./service.ts), and
 * the bounds of the numbers quality keeps.
 */

export const maxFeedbackRows = 1000;

/** The largest magnitude of a measured value (feedback, calibration rows): a process value, not an overflow. */
export const maxMeasuredValue = 1e9;

/** The largest magnitude of a number kept with a served row: below 2^53, so every store keeps it exactly. */
export const maxStoredMagnitude = 1e15;

/** The smallest magnitude DynamoDB keeps of a number other than 0 (it refuses the write of any smaller). */
export const minStoredMagnitude = 1e-130;

/** Whether a store keeps `v` exactly: finite, within ±{@link maxStoredMagnitude}, 0 or at least {@link minStoredMagnitude}. */
export function storable(v: number): boolean {
  const m = Math.abs(v);
  return Number.isFinite(v) && m <= maxStoredMagnitude && (m === 0 || m >= minStoredMagnitude);
}

const observationSchema = z
  .strictObject({
    /** The `request_id` a prediction answered with (the `x-request-id` header). */
    request_id: z.string().min(1).max(128).optional(),
    /** The row of a batch; 0 for a single prediction. */
    index: z.number().int().min(0).max(99).optional(),
    /** Or: the inputs as predicted, and when (ISO time, within the lookup tolerance). */
    inputs: z.record(z.string(), z.number()).optional(),
    time: z.iso.datetime({ offset: true }).optional(),
    /** The measured value (the lab result). */
    // Bounded so error sums stay exact enough in the aggregates and a single row cannot poison them.
    value: z
      .number()
      .refine(Number.isFinite, 'must be a finite number')
      .refine((v) => Math.abs(v) <= maxMeasuredValue, `must be within ±${maxMeasuredValue}`)
      .refine((v) => v === 0 || Math.abs(v) >= minStoredMagnitude, `must be 0 or at least ${minStoredMagnitude} in magnitude`),
  })
  .refine((o) => o.request_id !== undefined || (o.inputs !== undefined && o.time !== undefined), {
    message: 'give request_id, or inputs and time',
    path: ['request_id'],
  });

/**
 * Observations matched by inputs and time each cost a query of the predictions around that time (a request id
 * is one batched read): fewer of them per call, so one call never costs the server more than the caller.
 */
export const maxFeedbackByInputs = 25;

export const feedbackRequestSchema = z.strictObject({
  observations: z
    .array(observationSchema)
    .min(1, 'at least one observation')
    .max(maxFeedbackRows, `at most ${maxFeedbackRows} observations per call`)
    .refine((rows) => rows.filter((o) => o.request_id === undefined).length <= maxFeedbackByInputs, `at most ${maxFeedbackByInputs} observations by inputs and time per call (by request_id: ${maxFeedbackRows})`),
});
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;

export type FeedbackStatus = 'accepted' | 'duplicate' | 'unknown' | 'expired';

export interface FeedbackResult {
  index: number;
  status: FeedbackStatus;
  request_id?: string;
  row?: number;
  version?: string;
  /** Seconds from the prediction to this feedback. */
  lag_seconds?: number;
  /** More than a day after the prediction: accepted, and flagged. */
  late?: boolean;
}

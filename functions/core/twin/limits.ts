// Limits of the twin's use cases, apart from ./service.ts: functions/contracts.ts and ./oip.ts (its schemas,
// in every bundle) read them without carrying the serving code and the ONNX readers behind it.

/** The chapter's batch limit, kept. */
export const maxBatchSize = 100;

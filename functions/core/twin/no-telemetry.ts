/**
 * onnxruntime (1.29 and later, 1.30 here) ships Microsoft's 1DS telemetry on Linux, on by default: every
 * process that creates a session starts an uploader thread, keeps a device id and an offline event database
 * (SessionCreation, model hashes, runtime figures) under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, and
 * leaves an empty `/tmp/mat-debug-<pid>.log`. Nothing about a plant's models may leave the plant, and the
 * uploader also costs the first session ~10–40 ms and every run CPU (docs/performance.md, docs/security.md).
 * `ORT_DISABLE_TELEMETRY=1` turns all of it off, if set before the runtime's environment is created, which
 * onnxruntime-node does at the first session. So every module that creates sessions imports this one first;
 * the Lambda functions and the container also carry the variable (infra/constructs/twin-function.ts,
 * Dockerfile). It is set, not defaulted: telemetry cannot be switched back on through the environment.
 */
process.env.ORT_DISABLE_TELEMETRY = '1';

export {};

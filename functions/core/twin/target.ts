import { InvalidRequestError } from '../errors.js';
import { modelNameSchema, semverSchema } from '../manifest.js';

/** Which model answers: its routed version, or exactly `version`. */
export interface InferTarget {
  name: string;
  version?: string;
}

/** A model name (and version) from a request path, checked before any lookup: 400 naming the parameter. */
export function parseInferTarget(rawName: string, rawVersion?: string): InferTarget {
  const name = modelNameSchema.safeParse(rawName);
  if (!name.success) throw new InvalidRequestError(`model name ${JSON.stringify(rawName)}: ${name.error.issues[0]?.message ?? 'invalid'}`, [{ field: 'name', rule: 'format', message: 'lower-case letters, digits and dashes' }]);
  if (rawVersion === undefined) return { name: name.data };
  const version = semverSchema.safeParse(rawVersion);
  if (!version.success) throw new InvalidRequestError(`model version ${JSON.stringify(rawVersion)}: must be a semantic version such as 1.2.3`, [{ field: 'version', rule: 'format', message: 'a semantic version such as 1.2.3' }]);
  return { name: name.data, version: version.data };
}

// @ts-check
// Whole-object writes and reads for s3rver's filesystem store, as real S3 has them.
//
// s3rver 3.7.1 writes an object by opening its file in place (truncating it) and answers the PutObject
// before that write stream has finished; a GetObject takes the object's size from one `stat` of the path and
// then opens the path again. So a reader right after a PutObject, or during one, could get an empty or partial
// object, or a body shorter than its content-length (a client then waits for bytes that never come). The twin
// rewrites objects that every serving path reads (a model's routing.json when an admin activates a version),
// and CI saw `routing.json is not valid JSON`. Here an object is written to a temporary file beside it,
// flushed, and renamed into place (atomic on one filesystem); its md5 and metadata files likewise; and a read
// opens the file once and takes the size from that open file, so it serves one version of the object whole.
// Proven by test/stores/s3-atomic-objects.test.ts.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** s3rver's object model (CommonJS, no typings): loaded where s3rver itself is. */
const S3Object = /** @type {any} */ (createRequire(import.meta.url)('s3rver/lib/models/object'));

/** A name beside `path` that s3rver's listings ignore (an object's file ends in `._S3rver_object`). */
function temporaryBeside(/** @type {string} */ path) {
  return `${path}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Writes `data` to `path` all at once: readers see the old file or the new one. */
async function replaceFile(/** @type {string} */ path, /** @type {string | Buffer} */ data) {
  const temporary = temporaryBeside(path);
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** @param {Record<string, unknown>} metadata */
function storedMetadata(metadata) {
  /** @type {Record<string, unknown>} */
  const json = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (S3Object.ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')) json[name] = value;
  }
  return json;
}

/**
 * Replaces `putObject`, `putMetadata` and `getObject` of one s3rver FilesystemStore (`s3rver.store`) with
 * whole-object versions. The other operations (copy, multipart) end in `putObject`, or are not used by the twin.
 * @param {any} store
 */
export function makeObjectWritesAtomic(store) {
  store.putMetadata = async (/** @type {string} */ bucket, /** @type {string} */ key, /** @type {Record<string, unknown>} */ metadata, /** @type {string | undefined} */ md5) => {
    if (md5) await replaceFile(store.getResourcePath(bucket, key, 'object.md5'), md5);
    await replaceFile(store.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(storedMetadata(metadata), null, 2));
  };

  store.putObject = async (/** @type {any} */ object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const temporary = temporaryBeside(objectPath);
    const md5 = createHash('md5');
    let size = 0;
    try {
      if (Buffer.isBuffer(object.content)) {
        md5.update(object.content);
        size = object.content.length;
        await writeFile(temporary, object.content);
      } else {
        const count = new Transform({
          transform(chunk, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        });
        // Resolves once the file is written and closed; a body that fails midway leaves no object.
        await pipeline(object.content, count, createWriteStream(temporary));
      }
      const digest = md5.digest('hex');
      await rename(temporary, objectPath);
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      return { size, md5: digest };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  };

  store.getObject = async (/** @type {string} */ bucket, /** @type {string} */ key, /** @type {{ start?: number; end?: number } | undefined} */ options) => {
    /** @type {import('node:fs/promises').FileHandle} */
    let handle;
    try {
      handle = await open(store.getResourcePath(bucket, key, 'object'), 'r');
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return null;
      throw error;
    }
    try {
      // The size and time of the version this handle holds, whatever is renamed over the path meanwhile.
      const stat = await handle.stat();
      const metadata = { ...(await store.getMetadata(bucket, key)), 'content-length': stat.size, 'last-modified': stat.mtime.toUTCString() };
      const lastByte = Math.max(0, stat.size - 1);
      const range = { start: options?.start || 0, end: Math.min(options?.end || Infinity, lastByte) };
      const ranged = options !== undefined && (options.start !== undefined || Boolean(options.end));
      if (range.start < 0 || Math.min(range.end, lastByte) < range.start) {
        // Not satisfiable: s3rver's controller answers 416 from the range.
        await handle.close();
        const object = new S3Object(bucket, key, null, metadata);
        if (ranged) object.range = range;
        return object;
      }
      const object = new S3Object(bucket, key, handle.createReadStream({ start: range.start, end: range.end }), metadata);
      if (ranged) object.range = range;
      return object;
    } catch (error) {
      await handle.close().catch(() => undefined);
      if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return null;
      throw error;
    }
  };
}

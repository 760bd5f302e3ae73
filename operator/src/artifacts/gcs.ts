// The Cloud Storage client, and gs:// URIs.
import { createRequire } from 'node:module';
import type { Storage } from '@google-cloud/storage';
import { DataError } from './errors.js';

/**
 * A client for Cloud Storage, or for the emulator that STORAGE_EMULATOR_HOST names
 * (`host:port`, `http://host:port` or `http://host:port/storage/v1`).
 *
 * @google-cloud/storage 7 reads that variable itself but misuses it: the JSON API goes to the
 * variable verbatim (no /storage/v1 unless it has one) while uploads go to
 * `<variable>/upload/storage/v1` (wrong if it has one), so no form works against fake-gcs-server.
 * Hence both endpoints are set here from the bare origin; there is no auth on a custom endpoint.
 */
export function makeStorage(env: NodeJS.ProcessEnv = process.env): Storage {
  // Loaded on first use: about 30 MiB that processes reading only file:// never pay.
  const { Storage } = createRequire(import.meta.url)('@google-cloud/storage') as typeof import('@google-cloud/storage');
  const emulator = env.STORAGE_EMULATOR_HOST;
  if (!emulator) return new Storage();
  const withScheme = /^https?:\/\//.test(emulator) ? emulator : `http://${emulator}`;
  const origin = withScheme.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
  const storage = new Storage({ apiEndpoint: origin, projectId: env.GOOGLE_CLOUD_PROJECT ?? 'orchard-local' });
  storage.baseUrl = `${origin}/storage/v1`;
  return storage;
}

export interface GsLocation {
  bucket: string;
  /** Object name, or prefix for a location; '' for the bucket's root. */
  object: string;
}

export function parseGsUri(uri: string): GsLocation {
  const match = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!match) throw new DataError(`${uri} is not a gs://bucket/object URI: bucket names are 3-222 lowercase letters, digits, '.', '_' or '-'`);
  return { bucket: match[1]!, object: match[2] ?? '' };
}

/** The HTTP status of a failed client call (ApiError.code), if it has one. */
export function gcsStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

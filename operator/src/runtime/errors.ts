// Errors a reconcile pass can end with, and how the controller treats them.
import { apiErrorMessage, statusCode } from '../kube/client.js';

/** A problem retrying cannot fix (e.g. an invalid spec): recorded in status, not retried. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;
export const isAlreadyExists = (err: unknown) => statusCode(err) === 409;

/**
 * An answer the API server gives again to the same request, so retrying it only makes load: a
 * malformed (400) or invalid (422) object, or one an admission webhook or ValidatingAdmissionPolicy
 * refused (a 403 that names it). Other 403s (RBAC, an exhausted quota, a terminating namespace) are
 * fixed by someone else, after which a retry succeeds.
 */
export function isPermanentRejection(err: unknown): boolean {
  const answer = apiAnswerOf(err);
  const code = statusCode(answer);
  if (code === 400 || code === 422) return true;
  return code === 403 && /ValidatingAdmissionPolicy|admission webhook .* denied the request/.test(apiErrorMessage(answer));
}

/** The API server's answer behind an error wrapped with context (`new Error('create Job …', { cause })`). */
export function apiAnswerOf(err: unknown): unknown {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) if (statusCode(e) !== undefined) return e;
  return undefined;
}

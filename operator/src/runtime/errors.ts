// Errors a reconcile pass can end with, and how the controller treats them.
import { statusCode } from '../kube/client.js';

/** A problem retrying cannot fix (e.g. an invalid spec): recorded in status, not retried. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;
export const isAlreadyExists = (err: unknown) => statusCode(err) === 409;

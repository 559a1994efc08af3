import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type DomainError, type ErrorKind, isCredentialError } from './domain/errors';

/**
 * The edges' mapping of the domain's error kinds (domain/errors.ts) to HTTP statuses: REST answers with
 * these, and a socket upgrade (main socket `$connect`, voice socket) is refused with them.
 */
const REST_STATUS: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  'malformed-credentials': 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  'unsupported-media-type': 415,
  'dependency-unreachable': 502,
  conflict: 409,
};

/** What REST and `$connect` answer while the table is unreachable (`isStoreUnavailable`): the client should retry. */
export const STORE_UNAVAILABLE = { status: 503, text: 'Service unavailable', retryAfterSeconds: 5 } as const;

export function restStatus(error: DomainError): ContentfulStatusCode {
  return REST_STATUS[error.kind];
}

/**
 * A socket upgrade's status: every credential problem is 401, whether the token is missing, malformed or
 * expired (docs/protocol.md); any other refusal keeps its own status.
 */
export function upgradeStatus(error: DomainError): ContentfulStatusCode {
  return isCredentialError(error) ? 401 : REST_STATUS[error.kind];
}

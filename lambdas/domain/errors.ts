/**
 * The one error model of the domain (docs/pipeline.md). Domain code refuses with a
 * `DomainError`: a kind (what went wrong, in domain terms) and the literal text the upstream server answers
 * with. It names no HTTP status: the edges map the kind, REST to a status (lambdas/rest/errors.ts), the
 * socket upgrades to theirs (`upgradeRefusal`, where every credential problem is a 401).
 */
export type ErrorKind =
  /** The request is malformed or a value is out of its rules (REST 400). */
  | 'invalid'
  /** No usable token: missing or not one we could have issued (REST 400 `Invalid token`, upgrades 401). */
  | 'malformed-credentials'
  /** A well-formed token naming no live session (401). */
  | 'unauthenticated'
  /** Known caller, not allowed (403). */
  | 'forbidden'
  /** Absent, or hidden from the caller (404). */
  | 'not-found'
  /** A body under another Content-Type than the route reads (415). */
  | 'unsupported-media-type'
  /** A service we depend on did not answer (502). */
  | 'dependency-unreachable'
  /** The request conflicts with the subject's current state, e.g. a status transition not allowed (409). */
  | 'conflict';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly text: string,
  ) {
    super(text);
    this.name = 'DomainError';
  }
}

export const badRequest = (text: string) => new DomainError('invalid', text);
export const unauthorized = (text: string) => new DomainError('unauthenticated', text);
export const forbidden = (text: string) => new DomainError('forbidden', text);
export const notFound = (text: string) => new DomainError('not-found', text);

/** Whether a refusal is about the caller's credentials (sockets refuse those with 401). */
export function isCredentialError(error: DomainError): boolean {
  return error.kind === 'malformed-credentials' || error.kind === 'unauthenticated';
}

/**
 * The catalog of upstream texts used in more than one place: each is written here once. Texts with values
 * in them stay next to their one check.
 */
export const TEXT = {
  invalidToken: 'Invalid token',
  expiredToken: 'Expired or invalid token',
  notMember: 'User is not a member of the server',
  noPermission: 'No permission',
  serverNotFound: 'Server does not exist',
  userNotFound: 'User does not exist',
  channelNotFound: 'Channel does not exist',
  roleNotFound: 'Role does not exist',
  fileNotFound: 'File does not exist',
  notFriend: 'User is not a friend',
  noVoiceAccess: 'User has no access to the channel or it does not exist',
  notVoiceChannel: 'Not a voice channel',
  inviteExpired: 'Invite has expired',
  expectedJsonObject: 'Expected a JSON object',
  tooManyRequests: 'Too many requests',
  nothingToChange: 'Nothing to change',
  alreadyBanned: 'Already banned',
  alreadyMember: 'User is already a member of the server',
  invalidPermissionBits: 'Invalid permission bits',
  originNotAllowed: 'Origin not allowed',
  internalError: 'Internal server error',
} as const;

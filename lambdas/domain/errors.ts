/** A refusal with the HTTP status and the literal text the upstream server answers with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(text);
    this.name = 'HttpError';
  }
}

export const badRequest = (text: string) => new HttpError(400, text);
export const unauthorized = (text: string) => new HttpError(401, text);
export const forbidden = (text: string) => new HttpError(403, text);
export const notFound = (text: string) => new HttpError(404, text);

export const TEXT = {
  invalidToken: 'Invalid token',
  expiredToken: 'Expired or invalid token',
  notMember: 'User is not a member of the server',
  noPermission: 'No permission',
  serverNotFound: 'Server does not exist',
  userNotFound: 'User does not exist',
} as const;

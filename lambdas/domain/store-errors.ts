/**
 * Failures that mean "the table cannot be reached right now", not "this request is wrong": the handlers
 * answer them with 503 and a Retry-After instead of a 500, so clients back off and try again.
 */

/** Socket-level codes Node gives when DynamoDB is down, restarting, or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** DynamoDB's own "try later" answers (throttling arrives as 400, so the status alone does not tell). */
const RETRY_LATER_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
]);

export function isStoreUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { name, code, message, $metadata, cause, errors } = error as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (typeof name === 'string' && RETRY_LATER_NAMES.has(name)) return true;
  // Node names the code in the message too ("connect ECONNREFUSED ..."), which survives when the SDK rewraps
  // an error from another realm (jest's sandbox) as a plain Error.
  if (typeof message === 'string' && (/socket hang up/i.test(message) || [...NETWORK_CODES].some((c) => message.includes(c)))) return true;
  if (($metadata?.httpStatusCode ?? 0) >= 500) return true;
  // Node wraps some socket failures (`cause`), and a connect to several addresses fails as an AggregateError.
  if (cause !== undefined && isStoreUnavailable(cause, depth + 1)) return true;
  return Array.isArray(errors) && errors.some((inner) => isStoreUnavailable(inner, depth + 1));
}

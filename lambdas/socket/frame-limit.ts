import { type RateLimit, rateLimitsFromEnv } from '../domain/config';
import { log } from '../domain/log';
import { FrameGate, frameLimitText, type Verdict } from '../domain/rate-limits';
import { errorFrame } from '../protocols/zavodchat/inbound';
import { installedContext } from '../scope';

/** One per handler instance (locally `ping` and `$default` share it, as they share the process). */
const gate = new FrameGate();

/**
 * The handler context and the counters (with the AWS SDK), loaded only when a frame needs the table or
 * the Management API (see FrameGate): `ping` keeps the cold start of an empty module.
 */
async function context() {
  const { appContext } = await import('../runtime');
  return appContext();
}

async function countFrames(connectionId: string, limit: RateLimit, amount: number): Promise<Verdict> {
  const [{ countRequest }, { db }] = await Promise.all([import('../domain/rate-counters'), context()]);
  return countRequest(db, 'socket', connectionId, limit, { amount });
}

function logFailure(error: unknown, connectionId: string): void {
  log().error('main-socket frame limit', error, { connectionId });
}

/**
 * Whether a main-socket frame may be handled. Over the connection's budget the frame is ignored; the
 * window's first refusal tells the client with an `error` event, twice the budget closes the connection.
 * A failing counter lets the frame through: the limit protects the system, it must not take it down.
 */
export async function admitFrame(connectionId: string): Promise<boolean> {
  // The local runtime's own settings, else the Lambda's environment (read here, not through the runtime, to stay light).
  const limits = installedContext()?.settings.rateLimits ?? rateLimitsFromEnv(process.env);
  const limit = limits.socketFrames;
  let decision;
  try {
    decision = await gate.admit(connectionId, limit, limits.socketFreeFrames, (amount) => countFrames(connectionId, limit!, amount));
  } catch (error) {
    logFailure(error, connectionId);
    return true;
  }
  if (decision === 'handle') return true;
  try {
    if (decision === 'refuse') await (await context()).sender.post(connectionId, errorFrame(frameLimitText(limit!)));
    if (decision === 'close') await (await context()).sender.close(connectionId);
  } catch (error) {
    logFailure(error, connectionId);
  }
  return false;
}

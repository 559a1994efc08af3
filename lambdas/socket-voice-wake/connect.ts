import { TEXT } from '../domain/errors';
import { log } from '../domain/log';
import { judgeOrigin } from '../domain/origins';
import { connectAttemptAllowed } from '../domain/rate-counters';
import { extractToken } from '../domain/sessions';
import { isStoreUnavailable } from '../domain/store-errors';
import { VOICE_STARTING, wakeForVoice } from '../domain/voice-wake';
import { STORE_UNAVAILABLE, upgradeStatus } from '../http-errors';
import { appContext } from '../runtime';
import { header, logScoped, type WebSocketEvent, type WebSocketResult } from '../socket/types';

/**
 * `$connect` of the voice wake (`voice.<domain>` while the media node is stopped; lambdas/domain/voice-wake.ts).
 * Every answer refuses the upgrade: 403 for a page of a foreign origin, 429 over the connect budget of the
 * source address, the node's own refusal for an attempt it would refuse (401 credentials, 400 `channel`,
 * 403/404 access), which starts nothing, and 503 `Voice is starting, try again in a minute` for an admitted
 * attempt, once the node has been asked to start.
 */
export const handler = logScoped(async function voiceWakeConnect(event: WebSocketEvent): Promise<WebSocketResult> {
  const context = appContext();
  // The stack sets it with the wake; without it the wake could only ever say "starting" (as the check, lambdas/schedule).
  if (!context.mediaNode) throw new Error('MEDIA_INSTANCE_ID is not set: the voice wake has no node to start');
  // As the node itself: a page of another origin must not use the victim's cookie (docs/security.md).
  if (judgeOrigin({ origin: header(event, 'origin') }, context.settings.corsOrigins) === 'foreign') return { statusCode: 403, body: TEXT.originNotAllowed };
  const query = event.queryStringParameters ?? {};
  const sourceIp = event.requestContext.identity?.sourceIp || undefined;
  try {
    if (!(await connectAttemptAllowed(context.db, context.settings.rateLimits.connects, sourceIp && `wake:${sourceIp}`))) {
      return { statusCode: 429, body: TEXT.tooManyRequests };
    }
    // The voice socket's credentials, in its order: cookie, Bearer, ?token=.
    const token = extractToken({ cookie: header(event, 'cookie'), authorization: header(event, 'authorization'), queryToken: query.token });
    const outcome = await wakeForVoice(context, { token, channel: query.channel ?? '', mute: query.mute, deaf: query.deaf }, context.clock.now());
    if (!outcome.admitted) return { statusCode: upgradeStatus(outcome.error), body: outcome.error.text };
    log().info('voice wake', { userId: outcome.userId, channelId: outcome.channelId, node: outcome.availability.state });
    return { statusCode: 503, body: VOICE_STARTING };
  } catch (error) {
    log().error('voice-wake $connect', error);
    if (isStoreUnavailable(error)) return { statusCode: STORE_UNAVAILABLE.status, body: STORE_UNAVAILABLE.text };
    return { statusCode: 500, body: TEXT.internalError };
  }
});

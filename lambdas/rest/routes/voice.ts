import type { Hono } from 'hono';
import { accessChannel } from '../../domain/access';
import { CHANNEL_TYPE } from '../../domain/channels';
import { badRequest, forbidden, HttpError, TEXT } from '../../domain/errors';
import { hasPermission, Perm } from '../../domain/permissions';
import { subjectOf } from '../../domain/servers';
import { voiceLocationOf } from '../../domain/voice';
import { endVoice } from '../../domain/voice-control';
import { appContext, logError } from '../../runtime';
import { pathInt, requireUser } from '../http';

export const VOICE_REASONS = {
  kicked: 'Kicked by administrator',
  declined: 'Call denied',
  removedFromServer: 'Removed from the server',
  channelDeleted: 'Channel was deleted',
  noAccess: 'No access to the channel',
} as const;

/**
 * Ends a voice connection as a side effect of another change (kick, ban, access lost): that change has
 * already happened, so an unreachable node is logged, not reported as the request's failure.
 */
export async function endVoiceQuietly(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    logError('voice control', error);
  }
}

/** Voice kick from a server channel, and declining a DM call (PROTOCOL.md Part B §4.6). */
export function voiceRoutes(app: Hono): void {
  app.delete('/channels/:cid/users/:uid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const targetId = pathInt(c, 'uid');
    const { channel, server } = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    if (channel.type !== CHANNEL_TYPE.VOICE) throw badRequest('Not a voice channel');
    let reason: string;
    if (server) {
      // MANAGE_VC, server-level, and no hierarchy check: even the owner can be moved out of voice.
      if (!hasPermission(subjectOf(server, userId), Perm.MANAGE_VC)) throw forbidden(TEXT.noPermission);
      reason = VOICE_REASONS.kicked;
    } else {
      if ((await voiceLocationOf(context.db, userId))?.channelId === channel.id) throw forbidden('Cannot kick the other user while in the call');
      reason = VOICE_REASONS.declined;
    }
    let ended: boolean;
    try {
      ended = await endVoice(context.db, context.voice, { userId: targetId, channelId: channel.id }, reason);
    } catch (error) {
      logError('voice control', error);
      throw new HttpError(502, 'Voice node is unreachable');
    }
    if (!ended) return c.text('User is not in this voice channel', 404);
    return c.text('Kicked');
  });
}

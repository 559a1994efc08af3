import type { Hono } from 'hono';
import { accessChannel } from '../../domain/access';
import { CHANNEL_TYPE } from '../../domain/channels';
import { badRequest, DomainError, forbidden, notFound, TEXT } from '../../domain/errors';
import { hasPermission, Perm } from '../../domain/permissions';
import { subjectOf } from '../../domain/servers';
import { voiceLocationOf } from '../../domain/voice';
import { type AdminVoiceState, changeAdminVoiceState, sameAdminVoiceState } from '../../domain/voice-admin';
import { applyAdminVoiceState, endVoice } from '../../domain/voice-control';
import { log } from '../../domain/log';
import { appContext } from '../../runtime';
import { type Args, parseInteger, pathInt, readArgs, requireUser, textArg } from '../http';
import type { RestEnv } from '../auth';

export const VOICE_REASONS = {
  kicked: 'Kicked by administrator',
  declined: 'Call denied',
  removedFromServer: 'Removed from the server',
  channelDeleted: 'Channel was deleted',
  serverDeleted: 'Server was deleted',
  noAccess: 'No access to the channel',
} as const;

const NODE_UNREACHABLE = 'Voice node is unreachable';

/** `mute` and/or `deaf`, each 0 or 1: the keys given are the change, the others stay as they are. */
function readAdminVoiceChange(args: Args): Partial<AdminVoiceState> {
  const change: Partial<AdminVoiceState> = {};
  for (const name of ['mute', 'deaf'] as const) {
    const raw = textArg(args, name);
    if (raw === undefined) continue;
    const value = parseInteger(raw, name);
    if (value !== 0 && value !== 1) throw badRequest(`${name} is invalid: ${value} is not 0 or 1`);
    change[name] = value === 1;
  }
  if (Object.keys(change).length === 0) throw badRequest("Expected 'mute' or 'deaf' (0 or 1)");
  return change;
}

/**
 * Voice kick from a server channel, declining a DM call (docs/upstream.md, "The voice socket"), and administrator
 * mute/deafen (our extension of decision 11 of docs/upstream.md).
 */
export function voiceRoutes(app: Hono<RestEnv>): void {
  app.delete('/channels/:cid/users/:uid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const targetId = pathInt(c, 'uid');
    const { channel, server } = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    if (channel.type !== CHANNEL_TYPE.VOICE) throw badRequest(TEXT.notVoiceChannel);
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
      log().error('voice control', error);
      throw new DomainError('dependency-unreachable', NODE_UNREACHABLE);
    }
    if (!ended) return c.text('User is not in this voice channel', 404);
    return c.text('Kicked');
  });

  // Admin mute/deafen of a member in every voice channel of the server, stored so it outlasts his
  // connections; {cid} names the server (and proves the caller sees a voice channel of it).
  app.put('/channels/:cid/users/:uid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const targetId = pathInt(c, 'uid');
    const { channel, server } = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    if (channel.type !== CHANNEL_TYPE.VOICE) throw badRequest(TEXT.notVoiceChannel);
    if (!server) throw badRequest('Not a server voice channel');
    // As the voice kick: MANAGE_VC, server-level, no hierarchy check.
    if (!hasPermission(subjectOf(server, userId), Perm.MANAGE_VC)) throw forbidden(TEXT.noPermission);
    const change = readAdminVoiceChange(await readArgs(c));
    const serverId = server.server.id;
    const result = await changeAdminVoiceState(context.db, serverId, targetId, change);
    if (!result) throw notFound(TEXT.notMember);
    // Also on a no-op: repeating a request whose node was unreachable delivers it (the node is idempotent).
    try {
      await applyAdminVoiceState(context.db, context.voice, { userId: targetId, serverId }, result.after);
    } catch (error) {
      log().error('voice control', error);
      throw new DomainError('dependency-unreachable', NODE_UNREACHABLE);
    }
    return sameAdminVoiceState(result.before, result.after) ? c.text(TEXT.nothingToChange, 202) : c.text('Changed');
  });
}

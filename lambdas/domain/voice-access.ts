import { CHANNEL_TYPE, type Channel, channelsOfServer, findChannel } from './channels';
import type { FanoutContext } from './fanout';
import { log } from './log';
import { loadServerContext } from './servers';
import { serverVoiceRefusal, voiceLeft, voiceLocationOf, type VoiceSession, voiceSessionsOfChannel } from './voice';
import type { VoiceControl } from './ports';

/**
 * Which voice connections a change may have taken away: one member's (his roles changed, he was kicked or
 * banned, he is no longer the owner), those in some channels (a whitelist or a role override changed, a
 * channel is being deleted) or every one in the server (its roles changed, it is being deleted).
 */
export interface VoiceAccessScope {
  serverId: number;
  userId?: number;
  channelIds?: readonly number[];
  /**
   * The channels in scope (the whole server without `channelIds`) are about to be deleted: everyone in
   * them leaves, announced now while the channel's audience can still be computed.
   */
  deleting?: boolean;
}

/** Users in voice in the scope now, with their nodes. */
async function sessionsIn(context: FanoutContext, scope: VoiceAccessScope): Promise<VoiceSession[]> {
  const { db } = context;
  if (scope.userId !== undefined) {
    const location = await voiceLocationOf(db, scope.userId);
    if (!location || location.serverId !== scope.serverId) return [];
    if (scope.channelIds && !scope.channelIds.includes(location.channelId)) return [];
    return [{ userId: scope.userId, channelId: location.channelId, serverId: scope.serverId, node: location.node }];
  }
  const channelIds = scope.channelIds ?? (await channelsOfServer(db, scope.serverId)).filter((c) => c.type === CHANNEL_TYPE.VOICE).map((c) => c.id);
  const lists = await Promise.all(channelIds.map((id) => voiceSessionsOfChannel(db, { id, serverId: scope.serverId })));
  return lists.flat();
}

/** Whether the session's user may still be in its channel, by the admission rule, on the stored state. */
async function stillAllowed(context: FanoutContext, session: VoiceSession, channels: Map<number, Promise<Channel | undefined>>): Promise<boolean> {
  let channel = channels.get(session.channelId);
  if (!channel) channels.set(session.channelId, (channel = findChannel(context.db, session.channelId)));
  const [found, server] = await Promise.all([channel, loadServerContext(context.db, session.serverId, session.userId, true)]);
  return serverVoiceRefusal(server, found, session.userId) === undefined;
}

/**
 * The one step that ends voice when access to a voice channel goes, whatever took it (docs/upstream.md
 * item 10; docs/security.md): it runs after the change is stored (before it, for deletions) and ends
 * every connection in the scope whose user the admission rule would now refuse. Each is ended through
 * its node's control endpoint with `reason`, as a voice kick, and the node's departure report announces
 * `user_left_vc`; for deletions the departure is announced here first, while the channel still exists.
 * Failures (an unreachable node) are logged per connection: the change itself has happened. Returns how
 * many connections were ended.
 */
export async function revokeVoiceAccess(context: FanoutContext, control: VoiceControl, scope: VoiceAccessScope, reason: string): Promise<number> {
  let sessions: VoiceSession[];
  try {
    sessions = await sessionsIn(context, scope);
  } catch (error) {
    log().error('voice access', error);
    return 0;
  }
  const channels = new Map<number, Promise<Channel | undefined>>();
  const ended = await Promise.all(
    sessions.map(async (session) => {
      try {
        if (!scope.deleting && (await stillAllowed(context, session, channels))) return false;
        if (scope.deleting) await voiceLeft(context, session);
        await control.send(session.node, { kind: 'kick', userId: session.userId, channelId: session.channelId, reason });
        return true;
      } catch (error) {
        log().error('voice access', error);
        return false;
      }
    }),
  );
  return ended.filter(Boolean).length;
}

import type { Recipient } from '../../domain/connections';
import type { DomainEvent } from '../../domain/events';
import type { ProtocolAdapter, Rendering } from '../adapter';
import { renderWorkspaceEvent, type WorkspaceEvent, workspaceEvents } from './mapping';

/*
 * The workspace socket (seed 003, docs/protocol.md, the workspace protocol "Mapping") as a protocol adapter: the fan-out
 * hands it the workspace connections of an event's audience, each with its workspace id as `scope`.
 * A workspace connection is subscribed to all of its user's servers (presence's openConnection), so the
 * events of a server reach it; only those of its own workspace are rendered for it.
 */

/** The seed-003 event of a domain event, and the workspace it concerns (undefined: not tied to one). */
function counterpart(event: DomainEvent): { serverId?: number; event: WorkspaceEvent } | undefined {
  switch (event.type) {
    case 'channel_created':
      // The audience already leaves out members who cannot see a private channel.
      return event.channel.serverId === undefined ? undefined : { serverId: event.channel.serverId, event: workspaceEvents.channelCreated(event.channel.id) };
    case 'channel_deleted':
      return { serverId: event.serverId, event: workspaceEvents.channelDeleted(event.channelId) };
    case 'user_joined':
      return { serverId: event.serverId, event: workspaceEvents.userJoined(event.user) };
    case 'user_kicked':
      // Leaving is kicking oneself (lambdas/rest/routes/members.ts): both are `user-leaved-workspace`.
      return { serverId: event.serverId, event: workspaceEvents.userLeavedWorkspace(event.userId) };
    case 'user_banned':
      return { serverId: event.serverId, event: workspaceEvents.userLeavedWorkspace(event.user.id) };
    case 'user_changed':
      // Goes to the subject's observers: the audience reached a workspace connection through a server its
      // user shares with the subject (or a friendship), so it is not tied to one workspace.
      if (event.changes.status !== undefined) return { event: workspaceEvents.onlineStatusUpdated(event.userId, event.changes.status) };
      // A profile change (name, avatar): `user-updated` needs the whole user, which the event carries then.
      return event.user !== undefined ? { event: workspaceEvents.userUpdated(event.user) } : undefined;
    case 'user_joined_vc':
      return event.participant.serverId === undefined
        ? undefined
        : { serverId: event.participant.serverId, event: workspaceEvents.userSelectedChannel(event.participant.userId, event.participant.channelId, event.state) };
    case 'user_left_vc':
      return event.participant.serverId === undefined
        ? undefined
        : { serverId: event.participant.serverId, event: workspaceEvents.userUnselectedChannel(event.participant.userId, event.participant.channelId) };
    case 'user_changed_vc_state':
      return event.participant.serverId === undefined || event.state === undefined
        ? undefined
        : { serverId: event.participant.serverId, event: workspaceEvents.mediaStateUpdated(event.participant.userId, event.state) };
    case 'user_speaking':
      return event.participant.serverId === undefined
        ? undefined
        : { serverId: event.participant.serverId, event: workspaceEvents.mediaStateUpdated(event.participant.userId, event.state, event.speaking) };
    case 'user_changed_device':
      // The audience is the user himself: all of his workspace connections, whatever their workspace.
      return { event: workspaceEvents.userChangedDevice() };
    default:
      // No seed-003 counterpart (messages, roles, emojis...), or not enough data in the event to render one
      //.
      return undefined;
  }
}

export function renderWorkspace(event: DomainEvent, recipients: readonly Recipient[]): Rendering[] {
  const found = counterpart(event);
  if (!found) return [];
  const scope = found.serverId === undefined ? undefined : String(found.serverId);
  const addressed = scope === undefined ? recipients : recipients.filter((r) => r.scope === scope);
  return addressed.length > 0 ? [{ frame: renderWorkspaceEvent(found.event), recipients: addressed }] : [];
}

/** Socket.IO clients of seed 003: connections stored with protocol `workspace` and their workspace id as scope. */
export const workspace: ProtocolAdapter = {
  name: 'workspace',
  render: renderWorkspace,
};

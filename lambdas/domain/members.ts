import { removeUserFromChannels } from './channels';
import { unsubscribeUserFromServer } from './connections';
import { applied, type Db, exists } from './db';
import { keys } from './table';
import { forgetAdminVoiceState } from './voice-admin';

/**
 * Removes a membership (kick, ban) and stops the user's connections from receiving the server's events
 * from the very next event on. Returns false when he was not a member.
 */
export async function removeMember(db: Db, serverId: number, userId: number, ownerId: number): Promise<boolean> {
  if (!(await applied(db.delete(keys.member(serverId, userId), { if: exists })))) return false;
  await forgetMembership(db, serverId, userId, ownerId);
  return true;
}

/**
 * What follows the end of a membership (kick or ban): his connections stop receiving the server's events
 * from the next event on, he leaves every channel's user whitelist, and his admin mute/deafen is dropped
 * (a new membership starts without one).
 */
export async function forgetMembership(db: Db, serverId: number, userId: number, ownerId: number): Promise<void> {
  await Promise.all([
    unsubscribeUserFromServer(db, userId, serverId),
    removeUserFromChannels(db, serverId, userId, ownerId),
    forgetAdminVoiceState(db, serverId, userId),
  ]);
}

/** Replaces a member's role list; false when he is not a member (any more). */
export async function setMemberRoles(db: Db, serverId: number, userId: number, roles: number[]): Promise<boolean> {
  return applied(db.update(keys.member(serverId, userId), { set: { roles } }, { if: exists }));
}

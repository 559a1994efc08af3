import { absent, attr, type Db, ex, exists, type Item, isConditionFailure, isTransactionConflict, type TransactWrite } from './db';
import { keys } from './table';
import { build } from './items';

/**
 * Administrator mute/deafen (VC state 2, docs/upstream.md, decision 11) of a member, per server: it applies
 * in every voice channel of the server and outlives his connections, like a server mute elsewhere. One
 * item while either is on, none when both are off; it goes when he leaves the server or the server goes.
 */
export interface AdminVoiceState {
  mute: boolean;
  deaf: boolean;
}

export const NO_ADMIN_VOICE_STATE: AdminVoiceState = { mute: false, deaf: false };

/** How many times a change re-reads and retries after losing a race with another change or a kick. */
const MAX_ATTEMPTS = 5;

function stateFromItem(item: Item | undefined): AdminVoiceState {
  return item ? { mute: item.mute === true, deaf: item.deaf === true } : NO_ADMIN_VOICE_STATE;
}

export const sameAdminVoiceState = (a: AdminVoiceState, b: AdminVoiceState) => a.mute === b.mute && a.deaf === b.deaf;

/**
 * The stored state (1 GetItem): eventually consistent for an admission; `consistent` when the answer must
 * include every change that completed before the read.
 */
export async function adminVoiceStateOf(db: Db, serverId: number, userId: number, consistent = false): Promise<AdminVoiceState> {
  return stateFromItem(await db.get(keys.adminVoiceState(serverId, userId), { consistent }));
}

/**
 * Applies `change` (absent keys keep their value) to a member's state. The write is conditioned on the
 * state it was computed from and on the membership, so concurrent changes never lose each other and a
 * member kicked meanwhile is left without an item. Returns undefined when the user is not a member.
 */
export async function changeAdminVoiceState(
  db: Db,
  serverId: number,
  userId: number,
  change: Partial<AdminVoiceState>,
): Promise<{ before: AdminVoiceState; after: AdminVoiceState } | undefined> {
  const key = keys.adminVoiceState(serverId, userId);
  for (let attempt = 1; ; attempt++) {
    const [member, stored] = await Promise.all([db.get(keys.member(serverId, userId), { consistent: true }), db.get(key, { consistent: true })]);
    if (!member) return undefined;
    const before = stateFromItem(stored);
    const after = { mute: change.mute ?? before.mute, deaf: change.deaf ?? before.deaf };
    if (sameAdminVoiceState(before, after)) return { before, after };
    const asRead = stored ? ex`${attr('mute')} = ${before.mute} AND ${attr('deaf')} = ${before.deaf}` : absent;
    const write: TransactWrite = after.mute || after.deaf ? { put: build.adminVoiceState(serverId, userId, after), if: asRead } : { delete: key, if: asRead };
    try {
      await db.transact([{ check: keys.member(serverId, userId), if: exists }, write]);
      return { before, after };
    } catch (error) {
      // Lost a race: decide again on the state (and membership) as it is now.
      if ((isConditionFailure(error) || isTransactionConflict(error)) && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
  }
}

/** Forgets the state when the membership ends (kick, ban, leaving). */
export async function forgetAdminVoiceState(db: Db, serverId: number, userId: number): Promise<void> {
  await db.delete(keys.adminVoiceState(serverId, userId));
}

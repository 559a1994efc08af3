import { randomUUID } from 'node:crypto';
import { type Db, exists, type Item, queryIndexPrefix } from './db';
import { forbidden, notFound } from './errors';
import { keys, TTL_ATTRIBUTE } from './table';
import { build } from './items';
import { epochSeconds, isExpired, isoNow } from './time';

/** `{id, server_id, expires}` with `expires` an ISO timestamp or `never`. */
export interface Invite {
  id: string;
  server_id: number;
  expires: string;
}

const INVITE_NOT_FOUND = 'Invite does not exist';
/** Expired invites are refused at once and removed by TTL a day later. */
const EXPIRED_INVITE_GRACE_SECONDS = 24 * 3600;

function inviteFromItem(item: Item): Invite {
  return { id: String(item.id), server_id: Number(item.serverId), expires: String(item.expires) };
}

function ttlFor(expires: string): number | undefined {
  return expires === 'never' ? undefined : epochSeconds(Date.parse(expires)) + EXPIRED_INVITE_GRACE_SECONDS;
}

export async function listInvites(db: Db, serverId: number, now = Date.now()): Promise<Invite[]> {
  const items = await queryIndexPrefix(db, keys.invitesOfServerIndex(serverId));
  return items.map(inviteFromItem).filter((invite) => !isExpired(invite.expires, now));
}

export async function createInvite(db: Db, serverId: number, expires: string, maxInvites: number): Promise<string> {
  if ((await listInvites(db, serverId)).length >= maxInvites) throw forbidden('Too many invites on the server');
  const id = randomUUID();
  await db.put(build.invite(id, serverId, expires, isoNow(), ttlFor(expires)));
  return id;
}

/** Any invite by id, expired or not (callers decide what expiry means for them). */
export async function findInvite(db: Db, inviteId: string): Promise<Invite | undefined> {
  const item = await db.get(keys.invite(inviteId));
  return item ? inviteFromItem(item) : undefined;
}

/** An invite of this server (404 for unknown ids and for other servers' invites). */
/**
 * A live invite of the server, for its managers. An expired one is gone for them as it is from the list:
 * it can be neither read, nor revived by a new expiry, nor deleted (the TTL removes it).
 */
export async function inviteOfServer(db: Db, serverId: number, inviteId: string): Promise<Invite> {
  const invite = await findInvite(db, inviteId);
  if (!invite || invite.server_id !== serverId || isExpired(invite.expires)) throw notFound(INVITE_NOT_FOUND);
  return invite;
}

export async function changeInviteExpiry(db: Db, invite: Invite, expires: string): Promise<void> {
  const ttl = ttlFor(expires);
  await db.update(keys.invite(invite.id), { set: { expires, [TTL_ATTRIBUTE]: ttl }, remove: ttl === undefined ? [TTL_ATTRIBUTE] : [] }, { if: exists });
}

export async function deleteInvite(db: Db, invite: Invite): Promise<void> {
  await db.delete(keys.invite(invite.id));
}

export { INVITE_NOT_FOUND };

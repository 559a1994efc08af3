import { absent, applied, batchWrite, type Changes, type Db, ex, exists, type Item, isConditionFailure, keyOf, nextId, orThrow, queryPrefix, type TransactWrite } from './db';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import { hasPermission, Perm, type PermissionSubject } from './permissions';
import { keys, partitions, prefixes } from './table';
import { build } from './items';
import { MAX_NAME_LENGTH } from './users';

export const CHANNEL_TYPE = { TEXT: 0, VOICE: 1 } as const;
export const CHANNEL_NOT_FOUND = TEXT.channelNotFound;

/** A channel as stored. Server channels have `serverId`; DM channels have `participants` instead. */
export interface Channel {
  id: number;
  type: number;
  name?: string;
  serverId?: number;
  participants?: [number, number];
  wlUsers: number[];
  wlRoles: number[];
  /** Role id -> perms1 of the channel's role overrides. */
  overrides: Record<string, number>;
  lastMessageId: number;
  /** The latest messages that mentioned @everyone or roles here, oldest first (see notifications.ts). */
  broadcastMentions?: BroadcastMention[];
}

/**
 * A message's @everyone and @role mentions, kept on its channel's item (one attribute per message, named
 * BROADCAST_MENTION_PREFIX + message id) instead of on every notified member's read marker.
 */
export interface BroadcastMention {
  messageId: number;
  authorId: number;
  /** How many times the message says @everyone. */
  everyone: number;
  /** The role ids it mentions, once per mention. */
  roles: number[];
}

export const BROADCAST_MENTION_PREFIX = 'broadcastMention_';
/** A channel keeps the latest 100: one reader's count of them stops there (clients show "99+" anyway). */
export const BROADCAST_MENTIONS_KEPT = 100;

/** The channel object of REST and of channel events: `{id, type, name?, wl_users, wl_roles, roles?}`. */
export interface ChannelView {
  id: number;
  type: number;
  name?: string;
  wl_users: number[];
  wl_roles: number[];
  roles?: Array<{ id: number; perms1: number }>;
}

const channelKey = keys.channel;
const orderKey = keys.channelOrder;

function channelFromItem(item: Item): Channel {
  const channel: Channel = {
    id: Number(item.id),
    type: Number(item.type),
    wlUsers: ((item.wlUsers as number[]) ?? []).map(Number),
    wlRoles: ((item.wlRoles as number[]) ?? []).map(Number),
    overrides: (item.overrides as Record<string, number>) ?? {},
    lastMessageId: Number(item.lastMessageId ?? 0),
    broadcastMentions: Object.entries(item)
      .filter(([name]) => name.startsWith(BROADCAST_MENTION_PREFIX))
      .map(([name, value]) => {
        const stored = value as { authorId?: unknown; everyone?: unknown; roles?: unknown };
        return {
          messageId: Number(name.slice(BROADCAST_MENTION_PREFIX.length)),
          authorId: Number(stored.authorId),
          everyone: Number(stored.everyone ?? 0),
          roles: Array.isArray(stored.roles) ? stored.roles.map(Number) : [],
        };
      })
      .sort((a, b) => a.messageId - b.messageId),
  };
  if (typeof item.name === 'string') channel.name = item.name;
  if (item.serverId !== undefined) channel.serverId = Number(item.serverId);
  if (Array.isArray(item.participants)) channel.participants = (item.participants as number[]).map(Number) as [number, number];
  return channel;
}

export function channelView(channel: Channel, options: { withRoles?: boolean } = {}): ChannelView {
  const view: ChannelView = { id: channel.id, type: channel.type, wl_users: channel.wlUsers, wl_roles: channel.wlRoles };
  if (channel.name !== undefined) view.name = channel.name;
  const roles = Object.entries(channel.overrides).map(([id, perms1]) => ({ id: Number(id), perms1 }));
  if (options.withRoles && roles.length > 0) view.roles = roles;
  return view;
}

export function overridesOf(channel: Channel): Map<number, number> {
  return new Map(Object.entries(channel.overrides).map(([id, perms1]) => [Number(id), perms1]));
}

export function isPublic(channel: Channel): boolean {
  return channel.wlUsers.length === 0 && channel.wlRoles.length === 0;
}

/**
 * Who may see a server channel — in the channel list, by id, and in its live events alike
 * (docs/upstream.md, decision 3): everyone for a public channel; otherwise whitelisted users, holders of a
 * whitelisted role, the owner and holders of effective MANAGE_CHANNELS.
 */
export function canSeeChannel(subject: PermissionSubject, channel: Channel): boolean {
  if (isPublic(channel)) return true;
  if (channel.wlUsers.includes(subject.userId)) return true;
  if (channel.wlRoles.some((role) => subject.userRoles.includes(role))) return true;
  return hasPermission(subject, Perm.MANAGE_CHANNELS);
}

export async function findChannel(db: Db, channelId: number): Promise<Channel | undefined> {
  const item = await db.get(channelKey(channelId), { consistent: true });
  return item ? channelFromItem(item) : undefined;
}

/** The server's channels in display order (its order item, then one BatchGetItem). */
export async function channelsOfServer(db: Db, serverId: number): Promise<Channel[]> {
  const order = await db.get(orderKey(serverId), { consistent: true });
  const ids = ((order?.order as number[]) ?? []).map(Number);
  if (ids.length === 0) return [];
  const found = new Map<number, Channel>();
  for (const item of await db.getMany(ids.map(channelKey), { consistent: true })) found.set(Number(item.id), channelFromItem(item));
  return ids.map((id) => found.get(id)).filter((c): c is Channel => c !== undefined);
}

export function validateChannelName(name: string): void {
  if (name.length < 1) throw badRequest('Channel name should not be empty');
  if (name.length > MAX_NAME_LENGTH) throw badRequest(`Channel name should be at most ${MAX_NAME_LENGTH} characters long`);
}

/** Places `channelId` right before `beforeId` (the upstream `prev_channel_id`), or last for -1/unknown. */
export function placeBefore(order: readonly number[], channelId: number, beforeId: number): number[] {
  const without = order.filter((id) => id !== channelId);
  const at = beforeId === -1 ? -1 : without.indexOf(beforeId);
  if (at < 0) return [...without, channelId];
  return [...without.slice(0, at), channelId, ...without.slice(at)];
}

const MAX_ORDER_RETRIES = 5;

/**
 * Changes the display order and the channel item together. The order item carries a version, so two
 * concurrent edits cannot lose each other's change: the loser re-reads and retries.
 */
async function writeWithOrder(
  db: Db,
  serverId: number,
  change: (order: number[]) => { order: number[]; channelWrite?: TransactWrite },
): Promise<void> {
  for (let attempt = 0; attempt < MAX_ORDER_RETRIES; attempt++) {
    const current = await db.get(orderKey(serverId), { consistent: true });
    const version = Number(current?.version ?? 0);
    const { order, channelWrite } = change(((current?.order as number[]) ?? []).map(Number));
    try {
      await db.transact([
        { put: build.channelOrder(serverId, order, version + 1), if: current ? ex`version = ${version}` : absent },
        ...(channelWrite ? [channelWrite] : []),
      ]);
      return;
    } catch (error) {
      if (!isConditionFailure(error) || attempt === MAX_ORDER_RETRIES - 1) throw error;
    }
  }
}

export async function createChannel(
  db: Db,
  serverId: number,
  input: { name: string; type: number; wlUsers: number[]; wlRoles: number[]; before?: number },
  maxChannels: number,
): Promise<Channel> {
  const id = await nextId(db, 'channel');
  const channel: Channel = { id, type: input.type, name: input.name, serverId, wlUsers: input.wlUsers, wlRoles: input.wlRoles, overrides: {}, lastMessageId: 0 };
  await writeWithOrder(db, serverId, (order) => {
    if (order.length >= maxChannels) throw forbidden(`Cannot create more than ${maxChannels} channels on a server`);
    return {
      order: placeBefore(order, id, input.before ?? -1),
      channelWrite: { put: build.channel(channel), if: absent },
    };
  });
  return channel;
}

/** Applies `PUT /channels/{cid}`: the channel's fields and, when `before` is given, its position. */
export async function updateChannel(
  db: Db,
  channel: Channel,
  change: { name?: string; type?: number; wlUsers?: number[]; wlRoles?: number[]; before?: number },
): Promise<Channel> {
  const updated: Channel = {
    ...channel,
    ...(change.name !== undefined ? { name: change.name } : {}),
    ...(change.type !== undefined ? { type: change.type } : {}),
    ...(change.wlUsers !== undefined ? { wlUsers: change.wlUsers } : {}),
    ...(change.wlRoles !== undefined ? { wlRoles: change.wlRoles } : {}),
  };
  const changes: Changes = { set: { name: updated.name, type: updated.type, wlUsers: updated.wlUsers, wlRoles: updated.wlRoles } };
  const channelWrite: TransactWrite = { update: channelKey(channel.id), changes, if: exists };
  await orThrow<unknown>(
    change.before !== undefined
      ? writeWithOrder(db, channel.serverId!, (order) => ({ order: placeBefore(order, channel.id, change.before!), channelWrite }))
      : db.update(channelKey(channel.id), changes, { if: exists }),
    () => notFound(CHANNEL_NOT_FOUND),
  );
  return updated;
}

/** Sets (perms1) or removes (undefined) one role override of a channel. */
export async function setChannelOverride(db: Db, channel: Channel, roleId: number, perms1: number | undefined): Promise<Channel> {
  const overrides = { ...channel.overrides };
  if (perms1 === undefined) delete overrides[String(roleId)];
  else overrides[String(roleId)] = perms1;
  await db.update(channelKey(channel.id), { set: { overrides } }, { if: exists });
  return { ...channel, overrides };
}

/** Deletes a channel, its place in the order, its messages and their id pointers. */
export async function deleteChannel(db: Db, channel: Channel): Promise<void> {
  if (channel.serverId !== undefined) {
    await writeWithOrder(db, channel.serverId, (order) => ({
      order: order.filter((id) => id !== channel.id),
      channelWrite: { delete: channelKey(channel.id) },
    }));
  }
  await deleteChannelContents(db, channel.id);
}

/** Everything stored under a channel: its messages and their pointers (and the channel item itself). */
export async function deleteChannelContents(db: Db, channelId: number): Promise<void> {
  const items = await queryPrefix(db, partitions.channel(channelId), '');
  const pointers = items.filter((item) => String(item.sk).startsWith(prefixes.message)).map((item) => keys.messagePointer(Number(item.id)));
  await batchWrite(db, [
    ...items.map((item) => ({ delete: keyOf(item) })),
    ...pointers.map((key) => ({ delete: key })),
  ]);
}

/**
 * After a user left a server (kick, ban): drop him from every user whitelist there, so rejoining later
 * does not silently restore access to private channels (as upstream's trigger does; no event is sent).
 * A channel he alone was whitelisted for must not turn public: the owner, who sees it anyway, takes his place.
 */
export async function removeUserFromChannels(db: Db, serverId: number, userId: number, ownerId: number): Promise<void> {
  const channels = await channelsOfServer(db, serverId);
  await Promise.all(
    channels
      .filter((c) => c.wlUsers.includes(userId))
      .map((c) =>
        applied(
          db.update(
            channelKey(c.id),
            { set: { wlUsers: c.wlUsers.length === 1 && c.wlRoles.length === 0 ? [ownerId] : c.wlUsers.filter((id) => id !== userId) } },
            { if: exists },
          ),
        ),
      ),
  );
}

/**
 * After roles were deleted: drop them from every channel's whitelist and overrides of the server
 * (only `roles_updated` is announced, as upstream).
 */
export async function removeRolesFromChannels(db: Db, serverId: number, roleIds: readonly number[]): Promise<void> {
  if (roleIds.length === 0) return;
  const channels = await channelsOfServer(db, serverId);
  await Promise.all(
    channels
      .filter((c) => c.wlRoles.some((r) => roleIds.includes(r)) || roleIds.some((r) => String(r) in c.overrides))
      .map((c) => {
        const overrides = Object.fromEntries(Object.entries(c.overrides).filter(([id]) => !roleIds.includes(Number(id))));
        return applied(db.update(channelKey(c.id), { set: { wlRoles: c.wlRoles.filter((r) => !roleIds.includes(r)), overrides } }, { if: exists }));
      }),
  );
}

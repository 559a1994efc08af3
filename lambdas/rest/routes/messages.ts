import type { Hono } from 'hono';
import { accessChannel, type ChannelAccess, channelAudience } from '../../domain/access';
import { blockedBy, blockersOf } from '../../domain/blocks';
import { canSeeChannel, overridesOf } from '../../domain/channels';
import type { Db } from '../../domain/db';
import { badRequest, DomainError, forbidden, notFound, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { publish } from '../../domain/fanout';
import {
  type Attachment,
  deleteMessage,
  editMessage,
  findMessage,
  type Mention,
  MENTION_TYPE,
  MESSAGE_NOT_FOUND,
  messageView,
  parseMentions,
  postMessage,
  scanMessages,
  type StoredMessage,
  validateContent,
} from '../../domain/messages';
import { addMentions, markRead, readMarkersOf, takeBackMentions } from '../../domain/notifications';
import { hasPermission, Perm } from '../../domain/permissions';
import { membersAmong, subjectOf } from '../../domain/servers';
import { parseExpiry } from '../../domain/time';
import { log } from '../../domain/log';
import { appContext } from '../../runtime';
import { continuePage, integerField, jsonObject, pathInt, readArgs, readJson, readPage, requireUser, stringField } from '../http';
import type { RestEnv } from '../auth';
import { policy } from '../route-policy';

const MAX_SEARCH_TERMS = 16;
const MAX_NAMED_USERS = 100;

/**
 * Mentions of a server message and who its @u mentions notify (members who can see the channel, never the author).
 * DM messages have no mentions.
 */
async function mentionsOf(db: Db, access: ChannelAccess, authorId: number, text: string) {
  const { channel, server } = access;
  if (!server) return { mentions: [] as Mention[], notified: new Map<number, number>() };
  // Only the users the text names are looked up (not the whole member list): the cost follows the text,
  // not the server's size. Past the first 100 distinct ids, names are not mentions.
  const named = [...new Set([...text.matchAll(/@u(\d{1,10})/g)].map((match) => Number(match[1])))].slice(0, MAX_NAMED_USERS);
  const members = named.length > 0 ? await membersAmong(db, server.server.id, named) : new Map<number, number[]>();
  const mentions = parseMentions(text, (id) => members.has(id), (id) => server.roles.some((role) => role.id === id));
  // @everyone and @role mentions are kept on the channel (postMessage); readers count them by their roles.
  const notified = new Map<number, number>();
  for (const mention of mentions) {
    if (mention.type !== MENTION_TYPE.USER || mention.id === authorId) continue;
    const userId = mention.id!;
    const userRoles = members.get(userId)!;
    if (!canSeeChannel({ ownerId: server.server.owner_id, userId, roles: server.roles, userRoles }, channel)) continue;
    notified.set(userId, (notified.get(userId) ?? 0) + 1);
  }
  return { mentions, notified };
}

/** A message by id, only if its channel is visible to the caller (docs/upstream.md, decision 4). */
async function accessMessage(db: Db, messageId: number, userId: number): Promise<{ message: StoredMessage; access: ChannelAccess }> {
  const message = await findMessage(db, messageId);
  if (!message) throw notFound(MESSAGE_NOT_FOUND);
  try {
    return { message, access: await accessChannel(db, message.channelId, userId) };
  } catch (error) {
    // A refusal reads as a missing message (no existence leak); a failing table stays a 503.
    if (error instanceof DomainError) throw notFound(MESSAGE_NOT_FOUND);
    throw error;
  }
}

/** Messages, search and unread markers. */
export function messageRoutes(app: Hono<RestEnv>): void {
  app.get('/channels/:cid/messages', async (c) => {
    const { db, settings } = appContext();
    const userId = await requireUser(c);
    const { channel } = await accessChannel(db, pathInt(c, 'cid'), userId);
    const page = readPage(await readArgs(c), settings.params.max_get_count);
    return continuePage(c, await scanMessages(db, channel.id, page, await blockedBy(db, userId), {}, settings.maxScanItems));
  });

  app.post('/channels/:cid/messages', policy({ budget: 'messages' }), async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const access = await accessChannel(context.db, pathInt(c, 'cid'), userId);
    const { channel, server } = access;
    if (server && !hasPermission(subjectOf(server, userId), Perm.CREATE_MESSAGES, overridesOf(channel))) throw forbidden(TEXT.noPermission);
    const body = jsonObject(await readJson(c));
    const text = stringField(body, 'text');
    const attachments: Attachment[] = validateContent(text, body.attachments, context.settings.params.max_attachments);
    const named = await mentionsOf(context.db, access, userId, text);
    // In a DM every message counts for the other participant, as upstream's DM counters do.
    const notified = server ? named.notified : new Map(channel.participants?.filter((id) => id !== userId).map((id) => [id, 1]));
    // A user who blocked the author is not notified by him: no mention count, no DM count.
    if (notified.size > 0) for (const blocker of await blockersOf(context.db, userId)) notified.delete(blocker);
    const message = await postMessage(context.db, channel, userId, { text, attachments, mentions: named.mentions, notified });
    // The message is stored: answer with its id even if what follows fails (the table went away meanwhile),
    // since an error would make the client post it again. Readers find it in the history.
    try {
      // Independent of each other: the author's marker, the named users' counts and the event go together.
      await Promise.all([
        markRead(context.db, userId, channel, message.id),
        addMentions(context.db, channel, notified),
        publish(context, events.messageCreated(message), channelAudience(channel, server, userId)),
      ]);
    } catch (error) {
      log().error(`REST POST /channels/{cid}/messages after storing message ${message.id}`, error);
    }
    return c.text(String(message.id));
  });

  app.post('/channels/:cid/messages_search', async (c) => {
    const { db, settings } = appContext();
    const userId = await requireUser(c);
    const { channel } = await accessChannel(db, pathInt(c, 'cid'), userId);
    const page = readPage(await readArgs(c), settings.params.max_get_count);
    const body = jsonObject(await readJson(c));
    const rawContent = body.content;
    let content: string[] | undefined;
    if (typeof rawContent === 'string') content = [rawContent];
    else if (Array.isArray(rawContent) && rawContent.every((t) => typeof t === 'string') && rawContent.length <= MAX_SEARCH_TERMS) content = rawContent;
    else if (rawContent !== undefined) throw badRequest(`Couldn't parse 'content': expected a string or up to ${MAX_SEARCH_TERMS} strings`);
    const date = (key: string) => {
      const raw = stringField(body, key, true);
      if (raw === undefined) return undefined;
      const parsed = parseExpiry(raw);
      if (parsed === null || parsed === 'never') throw badRequest(`Couldn't parse '${key}', got: ${raw}`);
      return parsed;
    };
    const filter = { content, authorId: integerField(body, 'author_id', true), from: date('date_from'), until: date('date_until') };
    return continuePage(c, await scanMessages(db, channel.id, page, await blockedBy(db, userId), filter, settings.maxScanItems));
  });

  app.get('/messages/:mid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const { message } = await accessMessage(db, pathInt(c, 'mid'), userId);
    return c.json(messageView(message));
  });

  app.put('/messages/:mid', policy({ budget: 'messages' }), async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const { message, access } = await accessMessage(context.db, pathInt(c, 'mid'), userId);
    if (message.author_id !== userId) throw forbidden('Only the author can edit a message');
    const body = jsonObject(await readJson(c));
    const text = stringField(body, 'text', true) ?? message.text;
    const attachments = validateContent(text, body.attachments ?? message.attachments, context.settings.params.max_attachments);
    const { mentions } = await mentionsOf(context.db, access, userId, text);
    const edited = await editMessage(context.db, message, { text, attachments, mentions });
    await publish(context, events.messageEdited(edited), channelAudience(access.channel, access.server, userId));
    return c.text('Changed');
  });

  app.delete('/messages/:mid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const { message, access } = await accessMessage(context.db, pathInt(c, 'mid'), userId);
    const moderator = access.server !== undefined && hasPermission(subjectOf(access.server, userId), Perm.DELETE_MESSAGES);
    if (message.author_id !== userId && !moderator) throw forbidden(TEXT.noPermission);
    await deleteMessage(context.db, message, access.channel);
    // The message is gone: a failing count is logged, not answered as a failure the client would retry.
    await Promise.all([
      takeBackMentions(context.db, message.channelId, message.id, message.notified ?? new Map()).catch((error) =>
        log().error(`REST DELETE /messages/{mid} after deleting message ${message.id}`, error),
      ),
      publish(context, events.messageDeleted(message), channelAudience(access.channel, access.server, userId)),
    ]);
    return c.text('Deleted');
  });

  app.get('/notifications', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const markers = await readMarkersOf(db, userId);
    let dmNotifications = 0;
    for (const marker of markers.values()) if (marker.dm) dmNotifications += marker.mentions;
    return c.json({ dm_notifications: dmNotifications });
  });

  app.delete('/notifications/channels/:cid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const { channel } = await accessChannel(db, pathInt(c, 'cid'), userId);
    await markRead(db, userId, channel, channel.lastMessageId);
    return c.text('Cleared');
  });
}

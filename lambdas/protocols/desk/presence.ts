import type { Recipient } from '../../domain/connections';
import { type DeskEventSink, type DeskEvent } from '../../domain/desk/events';
import type { Chat, DeskContext, DeskUser } from '../../domain/desk/model';
import { curatorIds, getUser, resolveChatAudience } from '../../domain/desk/store';
import { events } from '../../domain/events';
import { type FanoutContext, publishTo } from '../../domain/fanout';
import { log } from '../../domain/log';
import type { ConnectionLifecycle } from '../adapter';
import { deskConnectionsOf, deskConnectionsOfUser, markOffline, markOnline, presenceOf, registerDeskConnection, removeDeskConnection } from './store';

/*
 * Delivery and presence of the desk socket (docs/desk.md, "Socket"): the desk's event seam
 * (lambdas/domain/desk/events.ts) filled with the fan-out of every protocol (publishTo), and the desk
 * user's online/offline transitions, decided as ZavodChat presence decides them (presence.ts): a user is
 * online exactly while he has a live desk connection; the last one removed turns him offline unless a
 * connect happened since (the epoch).
 */

/** The operations run with the handlers' context, which is a fan-out context; a bare DeskContext delivers nothing. */
function fanoutOf(context: DeskContext): (DeskContext & FanoutContext) | undefined {
  return 'sender' in context ? (context as DeskContext & FanoutContext) : undefined;
}

/**
 * An event about a chat to its customer and the curators who may see it now: the audience is read at event
 * time (two Queries, store.ts), the connections with one more, so a curator who lost the topic or the role
 * gets nothing from the next event on.
 */
async function toChat(context: DeskContext, chat: Chat, event: DeskEvent): Promise<void> {
  const fanout = fanoutOf(context);
  if (!fanout) return;
  const audience = await resolveChatAudience(fanout.db, chat);
  await publishTo(fanout, events.desk(event), await deskConnectionsOf(fanout.db, audience));
}

/** `user_status` to every connection of every curator but `except` (a connection inside its `$connect`: nothing reaches it yet). */
async function announceStatus(context: FanoutContext, user: DeskUser, status: 'online' | 'offline', except?: string): Promise<void> {
  const curators = new Set(await curatorIds(context.db));
  const recipients = (await deskConnectionsOf(context.db, curators)).filter((r) => r.connectionId !== except);
  await publishTo(context, events.desk({ name: 'user_status', user, status }), recipients);
}

/**
 * Announces a transition, then looks again: a connect and a disconnect racing may deliver their
 * announcements in either order, so when the stored state changed meanwhile it is announced once more. The
 * last `user_status` of a user a curator receives is then his state.
 */
async function announceTransition(context: FanoutContext, user: DeskUser, status: 'online' | 'offline', except?: string): Promise<void> {
  await announceStatus(context, user, status, except);
  const now = await presenceOf(context.db, user.id);
  const current = now.online ? 'online' : 'offline';
  if (current !== status) await announceStatus(context, user, current, except);
}

export const deskSink: DeskEventSink = {
  newChat: (context, chat) => toChat(context, chat, { name: 'new_chat', chat }),
  newMessage: (context, chat, message) => toChat(context, chat, { name: 'new_message', chat, message }),
  updateMessage: (context, chat, message) => toChat(context, chat, { name: 'update_message', chat, message }),
  deleteMessage: (context, chat, message) => toChat(context, chat, { name: 'delete_message', chat, message }),
  assignCurator: (context, chat, curatorId) => toChat(context, chat, { name: 'assign_curator', chat, curatorId }),
  updateChatStatus: (context, chat) => toChat(context, chat, { name: 'update_chat_status', chat }),
  readChatMessage: (context, chat, marker) => toChat(context, chat, { name: 'read_chat_message', chat, marker }),
  userStatus: async (context, user, status) => {
    const fanout = fanoutOf(context);
    if (fanout) await announceStatus(fanout, user, status);
  },
};

/**
 * A desk connection opens (`$connect`): stored, then its user marked online; the one connect that turned
 * him online announces it to the curators.
 */
export async function openDeskConnection(context: FanoutContext, user: DeskUser, recipient: Recipient, now = Date.now()): Promise<void> {
  await registerDeskConnection(context.db, recipient, now);
  // After the connection item: a disconnect that read the epoch before this sees the connection or fails its condition.
  if (!(await markOnline(context.db, user.id))) return;
  // The connection is stored and counts: a failed announcement must not refuse it (it would stay stored, its user online).
  await announceTransition(context, user, 'online', recipient.connectionId).catch((error) => log().error('desk user_status online', error));
}

/**
 * After one of the user's connections was removed: his last one turns him offline. The epoch is read before
 * the connections are: a connect that raises it later has stored its connection before.
 */
async function leaveIfLast(context: FanoutContext, userId: number): Promise<void> {
  const { epoch } = await presenceOf(context.db, userId);
  if ((await deskConnectionsOfUser(context.db, userId)).length > 0) return;
  if (!(await markOffline(context.db, userId, epoch))) return;
  const user = await getUser(context.db, userId);
  if (user) await announceTransition(context, user, 'offline');
}

/** `$disconnect`, or a session that expired: the connection is removed for sure. */
export async function closeDeskConnection(context: FanoutContext, connectionId: string): Promise<void> {
  const userId = await removeDeskConnection(context.db, connectionId);
  if (userId !== undefined) await leaveIfLast(context, userId);
}

/** How the fan-out removes desk connections (ProtocolAdapter.connections). */
export const deskLifecycle: ConnectionLifecycle = {
  async gone(context, recipient, postedAt) {
    const userId = await removeDeskConnection(context.db, recipient.connectionId, { userId: recipient.userId, postedAt });
    if (userId !== undefined) await leaveIfLast(context, userId);
  },
  close: closeDeskConnection,
};

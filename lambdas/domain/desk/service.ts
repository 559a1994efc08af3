import { badRequest, DomainError, forbidden, notFound } from '../errors';
import { contentTypeOf, generateFileName, MAX_FILE_BYTES } from '../files';
import { log } from '../log';
import { deskEvents } from './events';
import { deskFileKey } from './keys';
import type { Chat, DeskContext, DeskMessage, DeskUser, ReadMarker, Topic } from './model';
import type { DeskIdentity } from './oidc';
import { CHAT_STATUSES, CHAT_TYPES, type ChatStatus, type ChatType, type DeskActor, judgeTransition, LIMITS, maySeeChat, type MessageType } from './rules';
import * as store from './store';

/**
 * The desk's operations (docs/desk.md): each checks who may do it, stores the change, then calls the event
 * seam (events.ts). Errors are DomainErrors with the texts docs/desk.md lists; a chat the caller may not
 * see reads as missing, so ids of other people's chats leak nothing.
 */

/** The caller: his desk user and the roles of the token he presented now. */
export interface DeskPrincipal {
  user: DeskUser;
  identity: DeskIdentity;
}

export const DESK_TEXT = {
  chatNotFound: 'Chat does not exist',
  topicNotFound: 'Topic does not exist',
  messageNotFound: 'Message does not exist',
  userNotFound: 'User does not exist',
  fileNotFound: 'File does not exist',
  notAdmin: 'Only a desk administrator can manage topics',
  notCurator: 'Only a curator can do this',
  notSender: 'Only the sender can change a message',
  notACurator: 'User is not a curator',
  noTopicAccess: 'Curator has no access to the chat\'s topic',
  chatClosed: 'Chat is closed',
  changedMeanwhile: 'Chat changed meanwhile, reload it',
} as const;

export const conflict = (text: string) => new DomainError('conflict', text);

/** Calls a seam method; a failing sink is logged, never answered: the change is stored already. */
async function emit(what: string, send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (error) {
    log().error(`desk event ${what}`, error);
  }
}

function requireAdmin(principal: DeskPrincipal): void {
  if (!principal.identity.admin) throw forbidden(DESK_TEXT.notAdmin);
}

function topicName(raw: unknown): string {
  if (typeof raw !== 'string') throw badRequest(`Couldn't parse 'name', got: ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  const name = raw.trim();
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > LIMITS.topicName || /[\u0000-\u001f\u007f]/.test(name)) {
    throw badRequest(`Topic name must be 1 to ${LIMITS.topicName} characters without control characters`);
  }
  return name;
}

// ---- topics ----

export async function listTopics(context: DeskContext): Promise<Topic[]> {
  return store.listTopics(context.db);
}

export async function createTopic(context: DeskContext, principal: DeskPrincipal, name: unknown): Promise<Topic> {
  requireAdmin(principal);
  return store.createTopic(context.db, topicName(name));
}

export async function renameTopic(context: DeskContext, principal: DeskPrincipal, topicId: number, name: unknown): Promise<Topic> {
  requireAdmin(principal);
  const topic = await store.renameTopic(context.db, topicId, topicName(name));
  if (!topic) throw notFound(DESK_TEXT.topicNotFound);
  return topic;
}

export async function topicCurators(context: DeskContext, principal: DeskPrincipal, topicId: number): Promise<DeskUser[]> {
  requireAdmin(principal);
  if (!(await store.getTopic(context.db, topicId))) throw notFound(DESK_TEXT.topicNotFound);
  return store.getUsers(context.db, await store.topicCuratorIds(context.db, topicId));
}

/** Users holding the curator role when last seen: whom an admin can grant topics. */
export async function listCurators(context: DeskContext, principal: DeskPrincipal): Promise<DeskUser[]> {
  requireAdmin(principal);
  return store.getUsers(context.db, await store.curatorIds(context.db));
}

export async function grantTopic(context: DeskContext, principal: DeskPrincipal, topicId: number, userId: number): Promise<void> {
  requireAdmin(principal);
  const user = await store.getUser(context.db, userId);
  if (!user) throw notFound(DESK_TEXT.userNotFound);
  if (!user.curator) throw forbidden(DESK_TEXT.notACurator);
  if (!(await store.grantTopic(context.db, topicId, userId))) throw notFound(DESK_TEXT.topicNotFound);
}

export async function revokeTopic(context: DeskContext, principal: DeskPrincipal, topicId: number, userId: number): Promise<void> {
  requireAdmin(principal);
  if (!(await store.getTopic(context.db, topicId))) throw notFound(DESK_TEXT.topicNotFound);
  await store.revokeTopic(context.db, topicId, userId);
}

// ---- chats ----

/** The chat if the caller may see it, with his part in it; 404 otherwise (no existence leak). */
export async function accessChat(context: DeskContext, principal: DeskPrincipal, chatId: number, consistent = false): Promise<{ chat: Chat; actor: DeskActor }> {
  const chat = await store.getChat(context.db, chatId, consistent);
  if (!chat) throw notFound(DESK_TEXT.chatNotFound);
  const subject = { userId: principal.user.id, curator: principal.identity.curator };
  if (chat.customerId === principal.user.id) return { chat, actor: 'customer' };
  const granted = principal.identity.curator && (await store.isTopicCurator(context.db, chat.topicId, principal.user.id));
  if (!maySeeChat(subject, chat, granted)) throw notFound(DESK_TEXT.chatNotFound);
  return { chat, actor: 'curator' };
}

export function parseChatType(raw: unknown): ChatType {
  if (typeof raw !== 'string' || !(CHAT_TYPES as readonly string[]).includes(raw)) {
    throw badRequest(`Couldn't parse 'chat_type', got: ${raw === undefined ? 'nothing' : JSON.stringify(raw)}; expected order or topic`);
  }
  return raw as ChatType;
}

export function parseStatus(raw: unknown): ChatStatus {
  if (typeof raw !== 'string' || !(CHAT_STATUSES as readonly string[]).includes(raw)) {
    throw badRequest(`Couldn't parse 'status', got: ${raw === undefined ? 'nothing' : JSON.stringify(raw)}; expected one of ${CHAT_STATUSES.join(', ')}`);
  }
  return raw as ChatStatus;
}

/**
 * Opens a chat as its customer: about a topic, or about an order (`order_id`) filed under a topic, since
 * access is by topic. Emits `new_chat`.
 */
export async function openChat(context: DeskContext, principal: DeskPrincipal, fields: { chatType: ChatType; topicId: number; orderId?: string }): Promise<Chat> {
  if (fields.chatType === 'order') {
    if (fields.orderId === undefined || !/^[\x21-\x7e]{1,64}$/.test(fields.orderId)) {
      throw badRequest(`An order chat needs 'order_id': 1 to ${LIMITS.orderId} printable ASCII characters`);
    }
  } else if (fields.orderId !== undefined) {
    throw badRequest("'order_id' belongs to order chats only");
  }
  const chat = await store.createChat(context.db, { chatType: fields.chatType, customerId: principal.user.id, topicId: fields.topicId, ...(fields.orderId !== undefined ? { orderId: fields.orderId } : {}) });
  if (!chat) throw notFound(DESK_TEXT.topicNotFound);
  await emit('new_chat', () => deskEvents.newChat(context, chat));
  return chat;
}

export async function customerChats(context: DeskContext, principal: DeskPrincipal, page: store.DeskPage): Promise<store.Paged<Chat>> {
  return store.chatsOfCustomer(context.db, principal.user.id, page);
}

/** A topic's chats, for its curators only (others: 404 as if the topic did not exist). */
export async function topicChats(context: DeskContext, principal: DeskPrincipal, topicId: number, page: store.DeskPage): Promise<store.Paged<Chat>> {
  if (!principal.identity.curator || !(await store.isTopicCurator(context.db, topicId, principal.user.id))) throw notFound(DESK_TEXT.topicNotFound);
  return store.chatsOfTopic(context.db, topicId, page);
}

/** The topics the caller curates (empty without the curator role). */
export async function myTopics(context: DeskContext, principal: DeskPrincipal): Promise<Topic[]> {
  if (!principal.identity.curator) return [];
  const ids = new Set(await store.topicsOfCurator(context.db, principal.user.id));
  return (await store.listTopics(context.db)).filter((topic) => ids.has(topic.id));
}

export async function changeStatus(context: DeskContext, principal: DeskPrincipal, chatId: number, to: ChatStatus): Promise<Chat> {
  const { chat, actor } = await accessChat(context, principal, chatId, true);
  const verdict = judgeTransition(chat.status, to, actor, chat.curatorId !== undefined);
  if (verdict === 'not_a_transition') throw conflict(`Cannot change status from ${chat.status} to ${to}`);
  if (verdict === 'not_your_transition') throw forbidden(`The ${actor} cannot change status from ${chat.status} to ${to}`);
  if (verdict === 'needs_curator') throw conflict('Assign a curator first');
  const updated = await store.updateChat(context.db, chat, { status: to });
  if (!updated) throw conflict(DESK_TEXT.changedMeanwhile);
  await emit('update_chat_status', () => deskEvents.updateChatStatus(context, updated));
  return updated;
}

/**
 * Assigns a curator (the caller himself or another one) who has access to the chat's topic; only curators
 * of the chat may assign. A `new` chat moves to `in_progress` (two events: `assign_curator`, then
 * `update_chat_status`). Closed chats keep their curator.
 */
export async function assignCurator(context: DeskContext, principal: DeskPrincipal, chatId: number, curatorId: number): Promise<Chat> {
  const { chat, actor } = await accessChat(context, principal, chatId, true);
  if (actor !== 'curator') throw forbidden(DESK_TEXT.notCurator);
  if (chat.status === 'closed') throw conflict(DESK_TEXT.chatClosed);
  const curator = await store.getUser(context.db, curatorId);
  if (!curator) throw notFound(DESK_TEXT.userNotFound);
  if (!curator.curator) throw forbidden(DESK_TEXT.notACurator);
  if (!(await store.isTopicCurator(context.db, chat.topicId, curatorId))) throw forbidden(DESK_TEXT.noTopicAccess);
  const updated = await store.updateChat(context.db, chat, { curatorId, ...(chat.status === 'new' ? { status: 'in_progress' as const } : {}) });
  if (!updated) throw conflict(DESK_TEXT.changedMeanwhile);
  await emit('assign_curator', () => deskEvents.assignCurator(context, updated, curatorId));
  if (updated.status !== chat.status) await emit('update_chat_status', () => deskEvents.updateChatStatus(context, updated));
  return updated;
}

// ---- messages ----

export function parseMessageType(raw: unknown): MessageType {
  if (raw === undefined) return 'text';
  if (raw !== 'text' && raw !== 'file' && raw !== 'emoji') {
    throw badRequest(`Couldn't parse 'message_type', got: ${JSON.stringify(raw)}; expected text, file or emoji`);
  }
  return raw;
}

/** Text of a message: 1..4000 characters for text, 1..32 for one emoji, 0..4000 (a caption) with a file. */
export function validateText(type: MessageType, raw: unknown): string {
  const text = raw === undefined && type === 'file' ? '' : raw;
  if (typeof text !== 'string') throw badRequest(`Couldn't parse 'text', got: ${text === undefined ? 'nothing' : JSON.stringify(text)}`);
  const max = type === 'emoji' ? LIMITS.emoji : LIMITS.text;
  const min = type === 'file' ? 0 : 1;
  if (text.trim().length < min || text.length > max) throw badRequest(`Text of a ${type} message must be ${min} to ${max} characters`);
  return text;
}

export interface UploadedFile {
  bytes: Uint8Array;
  /** The extension it is stored under (its type when served): from the form's `ext`, else the file name. */
  extension: string;
}

export async function postMessage(
  context: DeskContext,
  principal: DeskPrincipal,
  chatId: number,
  content: { messageType: MessageType; text: unknown; file?: UploadedFile },
): Promise<DeskMessage> {
  const { chat } = await accessChat(context, principal, chatId);
  if (chat.status === 'closed') throw forbidden(DESK_TEXT.chatClosed);
  const text = validateText(content.messageType, content.text);
  if (content.messageType === 'file' && !content.file) throw badRequest("A file message needs a 'file' (multipart)");
  if (content.messageType !== 'file' && content.file) throw badRequest(`A ${content.messageType} message takes no file`);
  let file: { id: number; name: string } | undefined;
  if (content.file) {
    if (content.file.bytes.length > MAX_FILE_BYTES) throw forbidden(`File is larger than ${MAX_FILE_BYTES} bytes`);
    if (!/^[0-9A-Za-z]{1,10}$/.test(content.file.extension)) throw badRequest("Couldn't parse 'ext': expected 1 to 10 letters or digits");
    const name = generateFileName(content.file.extension.toLowerCase());
    await context.files.put(deskFileKey(chat.id, name), content.file.bytes, contentTypeOf(name));
    file = { id: await store.nextFileId(context.db), name };
  }
  const message = await store.postMessage(context.db, chat, { senderId: principal.user.id, text, messageType: content.messageType, ...(file ? { file } : {}) });
  if (!message) {
    if (file) await context.files.delete(deskFileKey(chat.id, file.name)).catch((error) => log().error('desk file of a refused message', error));
    throw forbidden(DESK_TEXT.chatClosed);
  }
  await emit('new_message', () => deskEvents.newMessage(context, chat, message));
  return message;
}

export async function listMessages(context: DeskContext, principal: DeskPrincipal, chatId: number, page: store.DeskPage): Promise<store.Paged<DeskMessage>> {
  const { chat } = await accessChat(context, principal, chatId);
  return store.listMessages(context.db, chat.id, page);
}

async function ownMessage(context: DeskContext, principal: DeskPrincipal, chatId: number, messageId: number): Promise<{ chat: Chat; message: DeskMessage }> {
  const { chat } = await accessChat(context, principal, chatId);
  const message = await store.getMessage(context.db, chat.id, messageId);
  if (!message) throw notFound(DESK_TEXT.messageNotFound);
  if (message.senderId !== principal.user.id) throw forbidden(DESK_TEXT.notSender);
  if (chat.status === 'closed') throw forbidden(DESK_TEXT.chatClosed);
  return { chat, message };
}

export async function editMessage(context: DeskContext, principal: DeskPrincipal, chatId: number, messageId: number, text: unknown): Promise<DeskMessage> {
  const { chat, message } = await ownMessage(context, principal, chatId, messageId);
  const edited = await store.editMessage(context.db, message, validateText(message.messageType, text));
  if (!edited) throw notFound(DESK_TEXT.messageNotFound);
  await emit('update_message', () => deskEvents.updateMessage(context, chat, edited));
  return edited;
}

export async function deleteMessage(context: DeskContext, principal: DeskPrincipal, chatId: number, messageId: number): Promise<void> {
  const { chat, message } = await ownMessage(context, principal, chatId, messageId);
  if (!(await store.deleteMessage(context.db, message))) throw notFound(DESK_TEXT.messageNotFound);
  if (message.file) await context.files.delete(deskFileKey(chat.id, message.file.name)).catch((error) => log().error('desk file of a deleted message', error));
  await emit('delete_message', () => deskEvents.deleteMessage(context, chat, message));
}

/** The store key of a message's file in a chat the caller may see. */
export async function fileOfChat(context: DeskContext, principal: DeskPrincipal, chatId: number, name: string): Promise<string> {
  const { chat } = await accessChat(context, principal, chatId);
  return deskFileKey(chat.id, name);
}

// ---- read markers ----

/**
 * Marks the chat read up to a message that exists in it; only forward (an older id changes nothing and
 * emits nothing). Emits `read_chat_message`.
 */
export async function markRead(context: DeskContext, principal: DeskPrincipal, chatId: number, lastMessageId: number): Promise<ReadMarker> {
  const { chat } = await accessChat(context, principal, chatId);
  if (!(await store.getMessage(context.db, chat.id, lastMessageId))) throw notFound(DESK_TEXT.messageNotFound);
  const marker: ReadMarker = { chatId: chat.id, userId: principal.user.id, lastMessageId };
  if (await store.markRead(context.db, marker)) await emit('read_chat_message', () => deskEvents.readChatMessage(context, chat, marker));
  return marker;
}

export async function readMarkers(context: DeskContext, principal: DeskPrincipal, chatId: number): Promise<ReadMarker[]> {
  const { chat } = await accessChat(context, principal, chatId);
  return store.readMarkers(context.db, chat.id);
}

import type { Chat, DeskMessage, DeskUser, ReadMarker, Topic } from './model';

/**
 * The desk's wire forms (docs/desk.md): seed 004's field names, every id a string, `created_at` ISO-8601 UTC
 * with milliseconds and `Z`, `files` one object (`{id, file}`) or null. REST answers with these, and the
 * socket events carry the `*EventData` forms.
 */

const id = (value: number | undefined) => (value === undefined ? null : String(value));

/** A message's file as a URL path relative to the REST API's base (the caller adds its own base URL). */
export function deskFileUrl(chatId: number, name: string): string {
  return `/desk/chats/${chatId}/files/${name}`;
}

export function userView(user: DeskUser) {
  return { id: String(user.id), name: user.name, curator: user.curator, admin: user.admin };
}

export function topicView(topic: Topic) {
  return { id: String(topic.id), name: topic.name, created_at: topic.createdAt };
}

export function chatView(chat: Chat) {
  return {
    chat_id: String(chat.id),
    chat_type: chat.chatType,
    user_id: String(chat.customerId),
    topic_id: String(chat.topicId),
    order_id: chat.orderId ?? null,
    status: chat.status,
    curator_id: id(chat.curatorId),
    last_message_id: id(chat.lastMessageId),
    created_at: chat.createdAt,
    updated_at: chat.updatedAt,
  };
}

/** A message as `new_message` and `update_message` carry it: exactly seed 004's fields. */
export function messageEventData(message: DeskMessage) {
  return {
    id: String(message.id),
    sender: String(message.senderId),
    chat_id: String(message.chatId),
    text: message.text,
    message_type: message.messageType,
    created_at: message.createdAt,
    files: message.file ? { id: String(message.file.id), file: deskFileUrl(message.chatId, message.file.name) } : null,
  };
}

/** A message as REST answers it: the event's fields plus `edited_at` (null until edited). */
export function messageView(message: DeskMessage) {
  return { ...messageEventData(message), edited_at: message.editedAt ?? null };
}

export function readMarkerView(marker: ReadMarker) {
  return { chat_id: String(marker.chatId), last_message_id: String(marker.lastMessageId), user_id: String(marker.userId) };
}

/** `data` of each socket event, exactly seed 004's fields (docs/desk.md). */
export const deskEventData = {
  user_status: (user: DeskUser, status: 'online' | 'offline') => ({ user_id: String(user.id), status }),
  new_chat: (chat: Chat) => ({ user_id: String(chat.customerId), chat_id: String(chat.id), chat_type: chat.chatType }),
  new_message: (message: DeskMessage) => messageEventData(message),
  update_message: (message: DeskMessage) => messageEventData(message),
  delete_message: (message: DeskMessage) => ({ chat_id: String(message.chatId), message_id: String(message.id) }),
  assign_curator: (chat: Chat, curatorId: number) => ({ chat_id: String(chat.id), curator_id: String(curatorId) }),
  update_chat_status: (chat: Chat) => ({ chat_id: String(chat.id), status: chat.status }),
  read_chat_message: (marker: ReadMarker) => readMarkerView(marker),
};

import type { Chat, DeskContext, DeskMessage, DeskUser, ReadMarker } from './model';

/** A desk event in domain terms, as the fan-out carries it (DomainEvent `desk_event`); `name` is its seed-004 `event_type`. */
export type DeskEvent =
  | { name: 'user_status'; user: DeskUser; status: 'online' | 'offline' }
  | { name: 'new_chat'; chat: Chat }
  | { name: 'new_message' | 'update_message' | 'delete_message'; chat: Chat; message: DeskMessage }
  | { name: 'assign_curator'; chat: Chat; curatorId: number }
  | { name: 'update_chat_status'; chat: Chat }
  | { name: 'read_chat_message'; chat: Chat; marker: ReadMarker };

/**
 * THE seam between desk changes and the desk socket (issue 17 deliver 3): one method per socket event of
 * seed 004, called by the desk's operations right after the change is stored. Today it sends nothing: the
 * protocol adapters (issue 15) do not exist yet. The desk adapter fills `deskEventSink` with a sink that
 * resolves the audience (`resolveChatAudience` in store.ts; curators for `user_status`), renders the
 * payload (`views.ts`, `*EventData`) and fans it out; no operation changes when it does.
 *
 * Each method receives the domain objects as they are after the change. A failure inside a sink is the
 * caller's to log: the change is stored and is not undone.
 */
export interface DeskEventSink {
  /** `new_chat`: the chat's customer and the curators who may see it. */
  newChat(context: DeskContext, chat: Chat): Promise<void>;
  /** `new_message` */
  newMessage(context: DeskContext, chat: Chat, message: DeskMessage): Promise<void>;
  /** `update_message` */
  updateMessage(context: DeskContext, chat: Chat, message: DeskMessage): Promise<void>;
  /** `delete_message` */
  deleteMessage(context: DeskContext, chat: Chat, message: DeskMessage): Promise<void>;
  /** `assign_curator` */
  assignCurator(context: DeskContext, chat: Chat, curatorId: number): Promise<void>;
  /** `update_chat_status` */
  updateChatStatus(context: DeskContext, chat: Chat): Promise<void>;
  /** `read_chat_message` */
  readChatMessage(context: DeskContext, chat: Chat, marker: ReadMarker): Promise<void>;
  /** `user_status`: to every curator. Called by the desk socket's connect and disconnect (not built yet). */
  userStatus(context: DeskContext, user: DeskUser, status: 'online' | 'offline'): Promise<void>;
}

const nothing = async () => undefined;

/** The sink of today: every event is a no-op until the desk protocol adapter exists. */
export const SILENT_DESK_EVENTS: DeskEventSink = {
  newChat: nothing,
  newMessage: nothing,
  updateMessage: nothing,
  deleteMessage: nothing,
  assignCurator: nothing,
  updateChatStatus: nothing,
  readChatMessage: nothing,
  userStatus: nothing,
};

let sink: DeskEventSink = SILENT_DESK_EVENTS;

/**
 * Installs the sink (the adapter at start-up, or a test's recorder; the local runtime runs the handlers in
 * the test's process). Returns a function restoring the previous one.
 */
export function setDeskEventSink(next: DeskEventSink): () => void {
  const previous = sink;
  sink = next;
  return () => {
    sink = previous;
  };
}

/** What the operations call: `deskEvents.newMessage(context, chat, message)` and so on. */
export const deskEvents: DeskEventSink = {
  newChat: (...args) => sink.newChat(...args),
  newMessage: (...args) => sink.newMessage(...args),
  updateMessage: (...args) => sink.updateMessage(...args),
  deleteMessage: (...args) => sink.deleteMessage(...args),
  assignCurator: (...args) => sink.assignCurator(...args),
  updateChatStatus: (...args) => sink.updateChatStatus(...args),
  readChatMessage: (...args) => sink.readChatMessage(...args),
  userStatus: (...args) => sink.userStatus(...args),
};

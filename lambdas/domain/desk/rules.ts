/**
 * The desk's rules as pure functions (docs/desk.md): statuses and their transitions, who may see a chat,
 * and who receives an event about it. No table, no wire: the store and REST call these, and the tests
 * check them against independent models.
 */

export type ChatType = 'order' | 'topic';
export const CHAT_TYPES: readonly ChatType[] = ['order', 'topic'];

export type MessageType = 'text' | 'file' | 'emoji';
export const MESSAGE_TYPES: readonly MessageType[] = ['text', 'file', 'emoji'];

export type ChatStatus = 'new' | 'in_progress' | 'resolved' | 'closed';
export const CHAT_STATUSES: readonly ChatStatus[] = ['new', 'in_progress', 'resolved', 'closed'];

/** Who asks for a status change: the chat's customer, or a curator who may see the chat. */
export type DeskActor = 'customer' | 'curator';

/**
 * Allowed transitions and who may make each. `in_progress` needs an assigned curator (assigning one to a
 * `new` chat moves it there); `resolved` is the curator's "done", which the customer may accept (close) or
 * dispute (reopen: back to `in_progress`); `closed` is final: a new question is a new chat.
 */
export const TRANSITIONS: Record<ChatStatus, Partial<Record<ChatStatus, readonly DeskActor[]>>> = {
  new: { in_progress: ['curator'], closed: ['customer', 'curator'] },
  in_progress: { resolved: ['curator'], closed: ['curator'] },
  resolved: { in_progress: ['customer', 'curator'], closed: ['customer', 'curator'] },
  closed: {},
};

export type TransitionVerdict = 'allowed' | 'not_a_transition' | 'not_your_transition' | 'needs_curator';

export function judgeTransition(from: ChatStatus, to: ChatStatus, actor: DeskActor, hasCurator: boolean): TransitionVerdict {
  const actors = TRANSITIONS[from][to];
  if (!actors) return 'not_a_transition';
  if (!actors.includes(actor)) return 'not_your_transition';
  if (to === 'in_progress' && !hasCurator) return 'needs_curator';
  return 'allowed';
}

/** A chat as the rules see it. */
export interface ChatRef {
  customerId: number;
  topicId: number;
}

/** A user as the rules see him: his id and whether he holds the curator role. */
export interface DeskSubject {
  userId: number;
  curator: boolean;
}

/**
 * May this user see (and act on) the chat? Its customer always; a curator when he has access to its topic;
 * nobody else (desk-admins manage topics, they do not read chats unless they are curators of the topic).
 */
export function maySeeChat(subject: DeskSubject, chat: ChatRef, curatorOfTopic: boolean): boolean {
  return subject.userId === chat.customerId || (subject.curator && curatorOfTopic);
}

/**
 * Who receives an event about a chat (`new_chat`, `new_message`, `update_message`, `delete_message`,
 * `assign_curator`, `update_chat_status`, `read_chat_message`): the chat's customer and every curator who may
 * see it now, i.e. holds the curator role and has access to the chat's topic. `topicCurators` are the users
 * granted the topic; `curators` the users holding the role. Read at event time, so a curator who lost
 * either stops receiving from the next event on. The actor is not excluded: his other connections follow.
 */
export function chatAudience(chat: ChatRef, topicCurators: Iterable<number>, curators: ReadonlySet<number>): Set<number> {
  const audience = new Set<number>([chat.customerId]);
  for (const userId of topicCurators) if (curators.has(userId)) audience.add(userId);
  return audience;
}

export const LIMITS = {
  topicName: 100,
  orderId: 64,
  text: 4000,
  emoji: 32,
  /** Largest page of chats or messages one request returns. */
  page: 50,
} as const;

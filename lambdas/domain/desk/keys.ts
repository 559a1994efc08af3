import { padId } from '../table';

/**
 * The desk's items in the one table (docs/data-model.md, "Desk"): kept here, apart from table.ts, so the
 * desk's access patterns read in one place. Every partition key starts with `DESK`, so no desk item can
 * collide with a ZavodChat one.
 */
export const deskKeys = {
  /** A desk user, created on first sight of his token's `sub`. */
  user: (userId: number) => ({ pk: `DESKUSER#${userId}`, sk: 'PROFILE' }),
  /** `sub` -> desk user id; its conditional put makes "created on first sight" race-free. */
  subject: (sub: string) => ({ pk: `DESKSUB#${sub}`, sk: 'USER' }),
  /** Every user holding the curator role when last seen (curator pickers; `user_status` goes to them). */
  curator: (userId: number) => ({ pk: 'DESK#CURATORS', sk: `USER#${padId(userId)}` }),
  curatorsPartition: () => 'DESK#CURATORS',
  /** All topics in one partition: the topic list is one Query. */
  topic: (topicId: number) => ({ pk: 'DESK#TOPICS', sk: `TOPIC#${padId(topicId)}` }),
  topicsPartition: () => 'DESK#TOPICS',
  /** A curator's access to a topic, in the topic's partition (the audience of its chats is one Query)... */
  topicCurator: (topicId: number, userId: number) => ({ pk: `DESKTOPIC#${topicId}`, sk: `CURATOR#${padId(userId)}` }),
  /** ...and its mirror in the curator's partition (his topics). */
  curatorTopic: (userId: number, topicId: number) => ({ pk: `DESKUSER#${userId}`, sk: `TOPIC#${padId(topicId)}` }),
  chat: (chatId: number) => ({ pk: `DESKCHAT#${chatId}`, sk: 'META' }),
  /** Listing entries: a topic's chats and a customer's chats, newest id last. */
  chatOfTopic: (topicId: number, chatId: number) => ({ pk: `DESKTOPIC#${topicId}`, sk: `CHAT#${padId(chatId)}` }),
  chatOfCustomer: (userId: number, chatId: number) => ({ pk: `DESKUSER#${userId}`, sk: `CHAT#${padId(chatId)}` }),
  message: (chatId: number, messageId: number) => ({ pk: `DESKCHAT#${chatId}`, sk: `MSG#${padId(messageId)}` }),
  readMarker: (chatId: number, userId: number) => ({ pk: `DESKCHAT#${chatId}`, sk: `READ#${padId(userId)}` }),
};

/** Id counters (COUNTER#<kind>) of the desk's entities. */
export const DESK_COUNTERS = { user: 'desk_user', topic: 'desk_topic', chat: 'desk_chat', message: 'desk_message', file: 'desk_file' } as const;

/** Where a desk message's file lives in the file store (a folder locally, S3 on AWS). */
export const deskFileKey = (chatId: number, name: string) => `desk/${chatId}/${name}`;

import { padId } from '../table';

/**
 * The desk's items in the one table (docs/data-model.md, "Desk"): kept here, apart from table.ts, so the
 * desk's access patterns read in one place. Every partition key starts with `DESK`, so no desk item can
 * collide with a ZavodChat one.
 */
/** The desk's partitions that hold more than one item kind: what its Queries read. */
export const deskPartitions = {
  user: (userId: number) => `DESKUSER#${userId}`,
  topic: (topicId: number) => `DESKTOPIC#${topicId}`,
  chat: (chatId: number) => `DESKCHAT#${chatId}`,
  curators: 'DESK#CURATORS',
  topics: 'DESK#TOPICS',
};

/** Sort key prefixes: what a Query of one of those partitions reads by `begins_with` (or pages by id). */
export const deskPrefixes = {
  curator: 'USER#',
  topic: 'TOPIC#',
  topicCurator: 'CURATOR#',
  curatorTopic: 'TOPIC#',
  chat: 'CHAT#',
  message: 'MSG#',
  readMarker: 'READ#',
};

export const deskKeys = {
  /** A desk user, created on first sight of his token's `sub`. */
  user: (userId: number) => ({ pk: deskPartitions.user(userId), sk: 'PROFILE' }),
  /** `sub` -> desk user id; its conditional put makes "created on first sight" race-free. */
  subject: (sub: string) => ({ pk: `DESKSUB#${sub}`, sk: 'USER' }),
  /** Every user holding the curator role when last seen (curator pickers; `user_status` goes to them). */
  curator: (userId: number) => ({ pk: deskPartitions.curators, sk: `${deskPrefixes.curator}${padId(userId)}` }),
  curatorsPartition: () => deskPartitions.curators,
  /** All topics in one partition: the topic list is one Query. */
  topic: (topicId: number) => ({ pk: deskPartitions.topics, sk: `${deskPrefixes.topic}${padId(topicId)}` }),
  topicsPartition: () => deskPartitions.topics,
  /** A curator's access to a topic, in the topic's partition (the audience of its chats is one Query)... */
  topicCurator: (topicId: number, userId: number) => ({ pk: deskPartitions.topic(topicId), sk: `${deskPrefixes.topicCurator}${padId(userId)}` }),
  /** ...and its mirror in the curator's partition (his topics). */
  curatorTopic: (userId: number, topicId: number) => ({ pk: deskPartitions.user(userId), sk: `${deskPrefixes.curatorTopic}${padId(topicId)}` }),
  chat: (chatId: number) => ({ pk: deskPartitions.chat(chatId), sk: 'META' }),
  /** Listing entries: a topic's chats and a customer's chats, newest id last. */
  chatOfTopic: (topicId: number, chatId: number) => ({ pk: deskPartitions.topic(topicId), sk: `${deskPrefixes.chat}${padId(chatId)}` }),
  chatOfCustomer: (userId: number, chatId: number) => ({ pk: deskPartitions.user(userId), sk: `${deskPrefixes.chat}${padId(chatId)}` }),
  message: (chatId: number, messageId: number) => ({ pk: deskPartitions.chat(chatId), sk: `${deskPrefixes.message}${padId(messageId)}` }),
  readMarker: (chatId: number, userId: number) => ({ pk: deskPartitions.chat(chatId), sk: `${deskPrefixes.readMarker}${padId(userId)}` }),
};

/** Id counters (COUNTER#<kind>) of the desk's entities. */
export const DESK_COUNTERS = { user: 'desk_user', topic: 'desk_topic', chat: 'desk_chat', message: 'desk_message', file: 'desk_file' } as const;

/** Where a desk message's file lives in the file store (a folder locally, S3 on AWS). */
export const deskFileKey = (chatId: number, name: string) => `desk/${chatId}/${name}`;

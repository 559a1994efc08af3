import type { Db } from '../db';
import type { FileStore } from '../ports';
import type { ChatStatus, ChatType, MessageType } from './rules';

/** What the desk's operations need: the table and the file store (a subset of the app context). */
export interface DeskContext {
  db: Db;
  files: FileStore;
}

export interface DeskUser {
  id: number;
  sub: string;
  name: string;
  /** Roles as of his last request (the token's); the audience of chat events reads `curator`. */
  curator: boolean;
  admin: boolean;
  createdAt: string;
}

export interface Topic {
  id: number;
  name: string;
  createdAt: string;
}

export interface Chat {
  id: number;
  chatType: ChatType;
  customerId: number;
  topicId: number;
  /** The order the chat is about (`chat_type` `order` only). */
  orderId?: string;
  status: ChatStatus;
  curatorId?: number;
  createdAt: string;
  updatedAt: string;
  lastMessageId?: number;
}

export interface DeskFile {
  id: number;
  /** The stored file's generated name (`deskFileKey`). */
  name: string;
}

export interface DeskMessage {
  id: number;
  chatId: number;
  senderId: number;
  text: string;
  messageType: MessageType;
  file?: DeskFile;
  createdAt: string;
  editedAt?: string;
}

export interface ReadMarker {
  chatId: number;
  userId: number;
  lastMessageId: number;
}

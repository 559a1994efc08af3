import type { Server } from './servers';
import type { User } from './users';

/** The envelope of both sockets, both directions. */
export interface SocketEvent<Name extends string = string, Data = unknown> {
  name: Name;
  data: Data;
}

export type UserChanged = SocketEvent<'user_changed', { id: number; status?: number; name?: string; avatar?: string }>;
export type UserJoined = SocketEvent<'user_joined', User & { server_id: number }>;
export type ServerEdited = SocketEvent<'server_edited', Server>;
export type GotServerOwner = SocketEvent<'got_server_owner', { id: number }>;
export type ServerDeleted = SocketEvent<'server_deleted', { id: number }>;

export function event<Name extends string, Data>(name: Name, data: Data): SocketEvent<Name, Data> {
  return { name, data };
}

/** The main socket's only answer to client input: a plain string, like the voice socket's `error`. */
export function errorEvent(text: string): SocketEvent<'error', string> {
  return { name: 'error', data: text };
}

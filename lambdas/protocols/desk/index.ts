import type { Recipient } from '../../domain/connections';
import { setDeskEventSink } from '../../domain/desk/events';
import type { DomainEvent } from '../../domain/events';
import type { ConnectionLifecycle, ProtocolAdapter, Rendering } from '../adapter';
import { decodeDeskFrame, deskErrorFrame, renderDeskFrame } from './frames';

/*
 * The support desk's socket (seed 004, docs/desk.md "Socket") as a protocol adapter: connections stored
 * with protocol `desk` (store.ts), served by an API of its own (lambdas/socket-desk/, DESK_MANAGEMENT_ENDPOINT;
 * locally DESK_PORT). Only desk events concern it; its audiences are resolved by the desk (presence.ts).
 *
 * What needs the table and the fan-out (presence.ts) is loaded on first use: the registry imports this
 * module while the fan-out itself is still loading.
 */

export function renderDesk(event: DomainEvent, recipients: readonly Recipient[]): Rendering[] {
  if (event.type !== 'desk_event' || recipients.length === 0) return [];
  return [{ frame: renderDeskFrame(event.event), recipients }];
}

const lifecycle = () => import('./presence');

const connections: ConnectionLifecycle = {
  gone: async (...args) => (await lifecycle()).deskLifecycle.gone(...args),
  close: async (...args) => (await lifecycle()).deskLifecycle.close(...args),
};

export const desk: ProtocolAdapter = {
  name: 'desk',
  render: renderDesk,
  decode: decodeDeskFrame,
  errorFrame: deskErrorFrame,
  connections,
};

// The desk's operations deliver through this protocol from now on (they call the seam, events.ts).
setDeskEventSink({
  newChat: async (...args) => (await lifecycle()).deskSink.newChat(...args),
  newMessage: async (...args) => (await lifecycle()).deskSink.newMessage(...args),
  updateMessage: async (...args) => (await lifecycle()).deskSink.updateMessage(...args),
  deleteMessage: async (...args) => (await lifecycle()).deskSink.deleteMessage(...args),
  assignCurator: async (...args) => (await lifecycle()).deskSink.assignCurator(...args),
  updateChatStatus: async (...args) => (await lifecycle()).deskSink.updateChatStatus(...args),
  readChatMessage: async (...args) => (await lifecycle()).deskSink.readChatMessage(...args),
  userStatus: async (...args) => (await lifecycle()).deskSink.userStatus(...args),
});

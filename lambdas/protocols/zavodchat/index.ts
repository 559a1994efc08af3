import type { ProtocolAdapter } from '../adapter';
import { decode, errorFrame } from './inbound';
import { renderFrame } from './render';

/** The ZavodChat main socket (docs/protocol.md): every connection without a `protocol` attribute speaks it. */
export const zavodchat: ProtocolAdapter = {
  name: 'zavodchat',
  // Desk events go to desk connections only; a ZavodChat client has no counterpart for them.
  render: (event, recipients) => (event.type === 'desk_event' ? [] : [{ frame: renderFrame(event), recipients }]),
  decode,
  errorFrame,
};

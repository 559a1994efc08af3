import type { ProtocolAdapter } from '../adapter';
import { decode, errorFrame } from './inbound';
import { renderFrame } from './render';

/** The ZavodChat main socket (docs/protocol.md): every connection without a `protocol` attribute speaks it. */
export const zavodchat: ProtocolAdapter = {
  name: 'zavodchat',
  render: (event, recipients) => {
    // Desk events go to desk connections only; a ZavodChat client has no counterpart for them.
    if (event.type === 'desk_event') return [];
    const frame = renderFrame(event);
    return frame === undefined ? [] : [{ frame, recipients }];
  },
  decode,
  errorFrame,
};

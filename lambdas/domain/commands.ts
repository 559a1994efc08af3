/*
 * What a client asks for over a socket, after its protocol adapter decoded the frame (lambdas/protocols/).
 * Domain code and the socket handlers act on these, never on a protocol's frames.
 */
export type InboundCommand =
  /** The client's keepalive: nothing to do beyond counting the frame. */
  | { type: 'ping' }
  /** A frame the protocol cannot take: `reason` is what the client is told, the connection stays open. */
  | { type: 'invalid'; reason: string };

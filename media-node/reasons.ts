/** Close reasons of the voice socket (close code 1000 unless noted), as the web client displays them. */
export const CLOSE_REASONS = {
  alreadyConnected: 'User is already connected to this channel',
  otherChannel: 'User is connecting to a different channel',
  callEnded: 'Call ended',
  inactive: 'Inactive for too long',
  iceFailed: 'ICE failed',
  rtcClosed: 'RTC closed',
  mediaServerError: 'Media server error',
  shuttingDown: 'Server is shutting down',
  /** Access to the channel went while the connection was being set up (the REST side says the same). */
  noAccess: 'No access to the channel',
  /** Close code 1008: twice the frame budget in one window (docs/voice.md, "Frame budget"). */
  tooManyFrames: 'Too many frames',
  /** Close code 1003. */
  binaryFrame: 'Binary frames are not supported',
  /** The client closed the socket; never sent. */
  socketClosed: 'Socket closed',
} as const;

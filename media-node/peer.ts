import { randomInt, randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';
import { WebSocket } from 'ws';
import { CONSUMER_RTP_CAPABILITIES, isOfferedExtension, offeredExtensions, receiveCodec, type VideoCodecName } from './codecs';
import type { LogFields } from '../lambdas/domain/log';
import type { RateLimit } from '../lambdas/domain/config';
import { frameLimitText } from '../lambdas/domain/rate-limits';
import { FrameBudget } from './frame-budget';
import { type ClientCommand, ERRORS, parseClientMessage } from './messages';
import type { VoiceFlag, VoiceParticipant, VoiceStateChange } from './ports';
import { CLOSE_REASONS } from './reasons';
import { type AnswerSection, type OfferSection, parseAnswer, SdpError, writeOffer } from './sdp';

/** What a peer needs from its room (the room is the only implementation; tests go through the socket). */
export interface PeerRoom {
  readonly maxVideoBitrate: number;
  /** Frames per window this peer's socket may send (answers excepted); unlimited when absent. */
  readonly frameLimit?: RateLimit;
  createTransport(peer: Peer): Promise<types.WebRtcTransport>;
  /** A new producer of this peer: every other peer consumes it. */
  producerAdded(peer: Peer, producer: types.Producer): void;
  /** The transport connected: the user is in the channel for everyone else now. */
  connected(peer: Peer): void;
  stateChanged(peer: Peer, delta: Omit<VoiceStateChange, keyof VoiceParticipant>): void;
  departed(peer: Peer): void;
  /** `fields`: the user and channel the line is about, for the node's JSON log records. */
  log(line: string, fields?: LogFields): void;
}

export interface PeerIdentity extends VoiceParticipant {
  /** ISO-8601 UTC time the voice socket opened. */
  joined: string;
}

export interface PeerFlags {
  mute: VoiceFlag;
  deaf: VoiceFlag;
  video: 0 | 1;
}

/**
 * One m-section of the peer's connection. The order of slots is the order of m-lines and never changes;
 * a section whose remote media went away is offered inactive and later reused for the same kind.
 */
interface MediaSlot {
  mid: string;
  kind: types.MediaKind;
  purpose: 'my_voice' | 'my_video' | 'remote';
  /** Remote slots: the consumer it carries, and whose media that is. */
  consumer?: types.Consumer;
  sourceUserId?: number;
  /** Codecs last offered in a remote slot, kept while it is inactive. */
  codecs?: types.RtpCodecParameters[];
  /** Bumped whenever what the slot offers changes. */
  revision: number;
  /** The client answered an offer made at the current revision. */
  settled: boolean;
}

const CLOSE_NORMAL = 1000;
const CLOSE_UNSUPPORTED_DATA = 1003;
const CLOSE_POLICY_VIOLATION = 1008;

/**
 * One user's voice connection (the mediasoup-demo's Peer): the signalling socket, one WebRtcTransport
 * bundling every m-section, the user's producers (mic on `my_voice`, screen on `my_video`) and a consumer
 * per other participant's producer. The server is always the offerer; at most one offer is outstanding,
 * and changes made meanwhile are collected into the next one.
 */
export class Peer {
  readonly userId: number;
  readonly channelId: number;
  readonly serverId?: number;
  readonly joined: string;

  private selfMute: 0 | 1;
  private selfDeaf: 0 | 1;
  private adminMute: boolean;
  private adminDeaf: boolean;
  private video?: { codec: VideoCodecName; bitrate: number };
  private lastVideoCodec: VideoCodecName = 'VP8';

  private transport?: types.WebRtcTransport;
  private transportConnected = false;
  private isConnected = false;
  private voiceProducer?: types.Producer;
  private videoProducer?: types.Producer;

  private readonly slots: MediaSlot[];
  private nextMid = 0;
  private readonly sessionId = String(randomInt(1, 2 ** 47));
  private offerVersion = 0;
  private offered?: Array<{ slot: MediaSlot; revision: number }>;
  private offerWanted = false;
  private offerScheduled = false;

  private queue: Promise<void> = Promise.resolve();
  private isClosed = false;
  /** The reason it was closed for, once closed (its room tells presence whether it was replaced). */
  closedFor?: string;
  private readonly budget: FrameBudget;

  constructor(
    private readonly socket: WebSocket,
    identity: PeerIdentity,
    flags: { mute: 0 | 1; deaf: 0 | 1; adminMute?: boolean; adminDeaf?: boolean },
    private readonly room: PeerRoom,
  ) {
    this.userId = identity.userId;
    this.channelId = identity.channelId;
    this.serverId = identity.serverId;
    this.joined = identity.joined;
    this.selfMute = flags.mute;
    this.selfDeaf = flags.deaf;
    this.adminMute = flags.adminMute ?? false;
    this.adminDeaf = flags.adminDeaf ?? false;
    this.slots = [{ mid: 'my_voice', kind: 'audio', purpose: 'my_voice', revision: 0, settled: false }];
    this.budget = new FrameBudget(room.frameLimit);
    socket.on('message', (data, isBinary) => {
      if (isBinary) this.close(CLOSE_REASONS.binaryFrame, CLOSE_UNSUPPORTED_DATA);
      else this.handleMessage(data.toString());
    });
    socket.on('close', () => this.close(CLOSE_REASONS.socketClosed));
    socket.on('error', (error) => room.log(`voice socket of user ${this.userId}: ${error.message}`, { userId: this.userId, channelId: this.channelId }));
  }

  /** Whether the transport has connected (and `joined` was announced). */
  get connected(): boolean {
    return this.isConnected;
  }

  get flags(): PeerFlags {
    return {
      mute: this.adminMute ? 2 : this.selfMute,
      deaf: this.adminDeaf ? 2 : this.selfDeaf,
      video: this.video ? 1 : 0,
    };
  }

  get participant(): VoiceParticipant {
    return { userId: this.userId, channelId: this.channelId, ...(this.serverId === undefined ? {} : { serverId: this.serverId }) };
  }

  get producers(): types.Producer[] {
    return [this.voiceProducer, this.videoProducer].filter((p): p is types.Producer => p !== undefined && !p.closed);
  }

  /** Creates the transport and sends the first offer, carrying the media already in the room. */
  start(existing: Array<{ producer: types.Producer; userId: number }>): void {
    this.enqueue(async () => {
      const transport = await this.room.createTransport(this);
      if (this.isClosed) {
        transport.close();
        return;
      }
      this.transport = transport;
      transport.on('dtlsstatechange', (state) => {
        if (state === 'connected') this.markConnected();
        else if (state === 'failed') this.close(CLOSE_REASONS.iceFailed);
        else if (state === 'closed') this.close(CLOSE_REASONS.rtcClosed);
      });
    }, CLOSE_REASONS.mediaServerError);
    for (const { producer, userId } of existing) this.consume(producer, userId);
    this.requestOffer();
  }

  /** Adds a section carrying another participant's producer. */
  consume(producer: types.Producer, sourceUserId: number): void {
    this.enqueue(async () => {
      const transport = this.transport;
      if (this.isClosed || producer.closed || !transport) return;
      const free = this.slots.find((s) => s.purpose === 'remote' && s.kind === producer.kind && !s.consumer && s.settled);
      const mid = free?.mid ?? String(this.nextMid);
      let consumer: types.Consumer;
      try {
        consumer = await transport.consume({
          producerId: producer.id,
          rtpCapabilities: CONSUMER_RTP_CAPABILITIES,
          // Paused until the client has the section, so the first (key)frame is not sent into the void.
          paused: true,
          mid,
        });
      } catch (error) {
        if (producer.closed || this.isClosed) return;
        throw error;
      }
      if (this.isClosed) return;
      let slot = free;
      if (!slot) {
        this.nextMid++;
        slot = { mid, kind: producer.kind, purpose: 'remote', revision: 0, settled: false };
        this.slots.push(slot);
      }
      const target = slot;
      this.changeSlot(target, () => {
        target.consumer = consumer;
        target.sourceUserId = sourceUserId;
        target.codecs = consumer.rtpParameters.codecs;
      });
      consumer.on('producerclose', () => {
        if (target.consumer !== consumer) return;
        this.changeSlot(target, () => {
          target.consumer = undefined;
          target.sourceUserId = undefined;
        });
      });
    });
  }

  /** Administrator mute/deafen (state 2): enforced by pausing the mic producer / the received audio. */
  setAdminState(state: { mute?: boolean; deaf?: boolean }): void {
    const before = this.flags;
    if (state.mute !== undefined && state.mute !== this.adminMute) {
      this.adminMute = state.mute;
      // A microphone producer created later starts paused while admin-muted.
      this.enqueue(async () => {
        const producer = this.voiceProducer;
        if (!producer || producer.closed) return;
        if (this.adminMute) await producer.pause();
        else await producer.resume();
      });
    }
    if (state.deaf !== undefined && state.deaf !== this.adminDeaf) {
      this.adminDeaf = state.deaf;
      this.enqueue(() => this.syncConsumers());
    }
    this.announceChanges(before);
  }

  close(reason: string, code = CLOSE_NORMAL): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closedFor = reason;
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code, reason);
    }
    // Closing the transport closes this peer's producers, and with them the other peers' consumers of them.
    this.transport?.close();
    this.room.departed(this);
  }

  private send(name: string, data: unknown): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ name, data }));
  }

  /** Runs media work one step at a time, in order; a failed step is logged (and may end the peer). */
  private enqueue(step: () => Promise<unknown>, closeReasonOnFailure?: string): void {
    this.queue = this.queue.then(step).then(
      () => undefined,
      (error: Error) => {
        this.room.log(`voice peer ${this.userId} in channel ${this.channelId}: ${error.message}`, { userId: this.userId, channelId: this.channelId });
        if (closeReasonOnFailure) this.close(closeReasonOnFailure);
      },
    );
  }

  private handleMessage(text: string): void {
    if (this.isClosed) return;
    const parsed = parseClientMessage(text, this.room.maxVideoBitrate);
    // An answer to the offer outstanding is the node's own request (at most one per offer): not counted,
    // so renegotiations in a busy channel never spend the budget.
    const requested = 'command' in parsed && parsed.command.name === 'answer' && this.offered !== undefined;
    if (!requested) {
      const decision = this.budget.admit();
      if (decision === 'close') return this.close(CLOSE_REASONS.tooManyFrames, CLOSE_POLICY_VIOLATION);
      if (decision === 'refuse') this.send('error', frameLimitText(this.room.frameLimit!));
      if (decision !== 'handle') return;
    }
    if ('error' in parsed) this.send('error', parsed.error);
    else this.execute(parsed.command);
  }

  private execute(command: ClientCommand): void {
    switch (command.name) {
      case 'answer':
        this.enqueue(() => this.applyAnswer(command.sdp));
        return;
      case 'change_state': {
        const before = this.flags;
        if (command.mute !== undefined) this.selfMute = command.mute;
        if (command.deaf !== undefined) this.selfDeaf = command.deaf;
        this.announceChanges(before);
        return;
      }
      case 'enable_video':
        this.enableVideo(command.codec, command.bitrate);
        return;
      case 'disable_video':
        this.disableVideo();
        return;
      case 'ping':
        return;
    }
  }

  private enableVideo(codec: VideoCodecName, bitrate: number): void {
    if (this.video) return;
    const before = this.flags;
    this.video = { codec, bitrate };
    this.lastVideoCodec = codec;
    const slot = this.slots.find((s) => s.purpose === 'my_video');
    this.changeSlot(slot ?? this.addSlot({ mid: 'my_video', kind: 'video', purpose: 'my_video' }));
    this.announceChanges(before);
  }

  private disableVideo(): void {
    if (!this.video) return;
    const before = this.flags;
    this.video = undefined;
    // Viewers' consumers close with the producer and their sections go inactive.
    this.videoProducer?.close();
    this.videoProducer = undefined;
    const slot = this.slots.find((s) => s.purpose === 'my_video');
    if (slot) this.changeSlot(slot);
    this.announceChanges(before);
  }

  private addSlot(slot: Omit<MediaSlot, 'revision' | 'settled'>): MediaSlot {
    const added = { ...slot, revision: 0, settled: false };
    this.slots.push(added);
    return added;
  }

  /** Applies a change to what the slot offers, and asks for a new offer. */
  private changeSlot(slot: MediaSlot, change?: () => void): void {
    change?.();
    slot.revision++;
    slot.settled = false;
    this.requestOffer();
  }

  private announceChanges(before: PeerFlags): void {
    const after = this.flags;
    const delta: Partial<PeerFlags> = {};
    if (after.mute !== before.mute) delta.mute = after.mute;
    if (after.deaf !== before.deaf) delta.deaf = after.deaf;
    if (after.video !== before.video) delta.video = after.video;
    // Before `joined` nobody has heard of this user; `joined` will carry the current flags.
    if (Object.keys(delta).length > 0 && this.isConnected) this.room.stateChanged(this, delta);
  }

  private markConnected(): void {
    if (this.isConnected || this.isClosed) return;
    this.isConnected = true;
    this.room.connected(this);
  }

  private requestOffer(): void {
    this.offerWanted = true;
    if (this.offered || this.offerScheduled) return;
    this.offerScheduled = true;
    this.enqueue(async () => {
      this.offerScheduled = false;
      if (this.offerWanted && !this.offered && !this.isClosed) this.sendOffer();
    });
  }

  private sendOffer(): void {
    const transport = this.transport;
    if (!transport) return;
    this.offerWanted = false;
    this.offerVersion++;
    this.offered = this.slots.map((slot) => ({ slot, revision: slot.revision }));
    const sdp = writeOffer({ id: this.sessionId, version: this.offerVersion }, transport, this.slots.map((slot) => this.section(slot)));
    this.send('offer', { type: 'offer', sdp });
  }

  private section(slot: MediaSlot): OfferSection {
    if (slot.purpose === 'my_voice') {
      return { mid: slot.mid, kind: 'audio', direction: 'recvonly', codecs: [receiveCodec('audio')].map(toParameters), headerExtensions: offeredExtensions('audio') };
    }
    if (slot.purpose === 'my_video') {
      return {
        mid: slot.mid,
        kind: 'video',
        // Inactive while not sharing tells the client to stop sending; the section itself stays.
        direction: this.video ? 'recvonly' : 'inactive',
        codecs: [receiveCodec('video', this.video?.codec ?? this.lastVideoCodec)].map(toParameters),
        headerExtensions: offeredExtensions('video'),
        maxBitrate: this.video?.bitrate,
      };
    }
    const consumer = slot.consumer;
    if (!consumer) {
      return { mid: slot.mid, kind: slot.kind, direction: 'inactive', codecs: slot.codecs ?? [], headerExtensions: offeredExtensions(slot.kind) };
    }
    const { rtpParameters } = consumer;
    return {
      mid: slot.mid,
      kind: slot.kind,
      direction: 'sendonly',
      codecs: rtpParameters.codecs,
      headerExtensions: rtpParameters.headerExtensions ?? [],
      userId: slot.sourceUserId,
      outgoing: {
        ssrc: rtpParameters.encodings?.[0]?.ssrc ?? 0,
        cname: rtpParameters.rtcp?.cname ?? `user-${slot.sourceUserId}`,
        streamId: `user-${slot.sourceUserId}-${slot.kind}`,
        trackId: consumer.id,
      },
    };
  }

  private async applyAnswer(sdp: string): Promise<void> {
    const offered = this.offered;
    const transport = this.transport;
    // An answer nobody asked for (e.g. a repeated one) changes nothing.
    if (!offered || !transport || this.isClosed) return;
    let answer;
    try {
      answer = parseAnswer(sdp);
      if (answer.sections.length !== offered.length || answer.sections.some((section, i) => section.mid !== offered[i].slot.mid)) {
        throw new SdpError('the answer does not match the offer');
      }
    } catch (error) {
      if (!(error instanceof SdpError)) throw error;
      this.send('error', ERRORS.invalidAnswer);
      return;
    }
    if (!this.transportConnected) {
      try {
        await transport.connect({ dtlsParameters: { role: answer.dtlsRole, fingerprints: [answer.fingerprint] } });
      } catch (error) {
        this.room.log(`voice peer ${this.userId}: DTLS parameters refused: ${(error as Error).message}`, { userId: this.userId, channelId: this.channelId });
        this.send('error', ERRORS.invalidAnswer);
        return;
      }
      this.transportConnected = true;
    }
    this.offered = undefined;
    for (const [i, { slot, revision }] of offered.entries()) {
      if (slot.revision !== revision) continue;
      slot.settled = true;
      if (slot.purpose !== 'remote') await this.receiveFrom(slot, answer.sections[i]);
    }
    await this.syncConsumers();
    if (this.offerWanted) this.sendOffer();
  }

  /** Creates, replaces or closes the producer of a `my_voice` / `my_video` section to match the answer. */
  private async receiveFrom(slot: MediaSlot, section: AnswerSection): Promise<void> {
    const kind = slot.kind;
    const current = kind === 'audio' ? this.voiceProducer : this.videoProducer;
    const sending = section.port !== 0 && (section.direction === 'sendonly' || section.direction === 'sendrecv') && section.ssrc !== undefined;
    const wanted = kind === 'audio' || this.video !== undefined;
    if (!sending || !wanted) {
      current?.close();
      this.setProducer(kind, undefined);
      return;
    }
    if (current && !current.closed && current.rtpParameters.encodings?.[0]?.ssrc === section.ssrc) return;
    current?.close();
    this.setProducer(kind, undefined);
    const expected = kind === 'audio' ? receiveCodec('audio') : receiveCodec('video', this.video!.codec);
    const payloadType = expected.preferredPayloadType;
    const codec = section.codecs.find((c) => c.payloadType === payloadType && `${kind}/${c.name}`.toLowerCase() === expected.mimeType.toLowerCase());
    if (!codec) {
      this.send('error', ERRORS.invalidAnswer);
      return;
    }
    const producer = await this.transport!.produce({
      kind,
      rtpParameters: {
        mid: slot.mid,
        codecs: [
          {
            mimeType: expected.mimeType,
            payloadType,
            clockRate: codec.clockRate,
            channels: codec.channels,
            parameters: codec.parameters,
            rtcpFeedback: codec.rtcpFeedback,
          },
        ],
        headerExtensions: section.headerExtensions.flatMap(({ id, uri }) => (isOfferedExtension(kind, uri, id) ? [{ id, uri }] : [])),
        encodings: [{ ssrc: section.ssrc }],
        rtcp: { cname: section.cname ?? randomUUID(), reducedSize: true },
      },
      paused: kind === 'audio' && this.adminMute,
    });
    if (this.isClosed) return;
    this.setProducer(kind, producer);
    this.room.producerAdded(this, producer);
  }

  private setProducer(kind: types.MediaKind, producer: types.Producer | undefined): void {
    if (kind === 'audio') this.voiceProducer = producer;
    else this.videoProducer = producer;
  }

  /** Consumers flow once the client has their section, except received audio while admin-deafened. */
  private async syncConsumers(): Promise<void> {
    for (const slot of this.slots) {
      const consumer = slot.consumer;
      if (!consumer || consumer.closed) continue;
      const flowing = slot.settled && !(consumer.kind === 'audio' && this.adminDeaf);
      try {
        if (flowing && consumer.paused) {
          await consumer.resume();
          // A new viewer needs a keyframe to start decoding.
          if (consumer.kind === 'video') await consumer.requestKeyFrame();
        } else if (!flowing && !consumer.paused) {
          await consumer.pause();
        }
      } catch (error) {
        // Its producer may have gone meanwhile; that is handled by `producerclose`.
        if (!consumer.closed) throw error;
      }
    }
  }
}

function toParameters(capability: types.RtpCodecCapability): types.RtpCodecParameters {
  return {
    mimeType: capability.mimeType,
    payloadType: capability.preferredPayloadType,
    clockRate: capability.clockRate,
    channels: capability.channels,
    parameters: capability.parameters,
    rtcpFeedback: capability.rtcpFeedback,
  };
}

import type { types } from 'mediasoup';
import type { LogFields } from '../lambdas/domain/log';
import type { RateLimit } from '../lambdas/domain/config';
import { ROUTER_MEDIA_CODECS } from './codecs';
import { DEFAULT_MEDIA_SETTINGS, type SpeakingSettings } from './config';
import type { Peer, PeerRoom } from './peer';
import type { PresenceQueue } from './presence-queue';
import { CLOSE_REASONS } from './reasons';
import type { MediaWorker, WorkerPool } from './workers';

export interface RoomHost {
  pool: WorkerPool;
  presence: PresenceQueue;
  maxVideoBitrate: number;
  frameLimit?: RateLimit;
  inactiveChannelMs: number;
  /** Speaking detection (DEFAULT_MEDIA_SETTINGS.speaking when absent). */
  speaking?: SpeakingSettings;
  log(line: string, fields?: LogFields): void;
  /** The room has no peers left and is gone. */
  roomClosed(room: Room): void;
  peerDeparted(peer: Peer): void;
}

/**
 * One voice channel (the mediasoup-demo's Room): a router on one worker and the peers in the channel.
 * A DM call (no server) ends for everyone when fewer than two remain, and is closed when nobody answers.
 */
export class Room implements PeerRoom {
  readonly channelId: number;
  readonly serverId?: number;
  readonly maxVideoBitrate: number;
  readonly frameLimit?: RateLimit;
  private readonly peers = new Map<number, Peer>();
  private readonly media: Promise<{ router: types.Router; worker: MediaWorker; levels: types.AudioLevelObserver }>;
  /** Whose each observed microphone is. */
  private readonly microphones = new Map<string, Peer>();
  /** Who speaks now, each with the timer that ends it after `holdMs` without a loud report. */
  private readonly speakers = new Map<number, { peer: Peer; quiet: NodeJS.Timeout }>();
  private readonly speakingSettings: SpeakingSettings;
  private closingReason?: string;
  private closed = false;
  private unansweredTimer?: NodeJS.Timeout;

  constructor(
    channel: { channelId: number; serverId?: number },
    private readonly host: RoomHost,
  ) {
    this.channelId = channel.channelId;
    this.serverId = channel.serverId;
    this.maxVideoBitrate = host.maxVideoBitrate;
    this.frameLimit = host.frameLimit;
    this.speakingSettings = host.speaking ?? DEFAULT_MEDIA_SETTINGS.speaking;
    this.media = this.createRouter();
    // Failures reach the peers through createTransport; this only keeps the rejection from going unhandled.
    this.media.catch(() => undefined);
  }

  get isDirectMessage(): boolean {
    return this.serverId === undefined;
  }

  get size(): number {
    return this.peers.size;
  }

  participants(): Peer[] {
    return [...this.peers.values()];
  }

  private async createRouter(): Promise<{ router: types.Router; worker: MediaWorker; levels: types.AudioLevelObserver }> {
    const worker = this.host.pool.pick();
    worker.rooms++;
    try {
      const router = await worker.worker.createRouter({ mediaCodecs: ROUTER_MEDIA_CODECS });
      router.on('workerclose', () => this.closeAll(CLOSE_REASONS.mediaServerError));
      // Audio levels come from the clients' ssrc-audio-level header extension: nothing is decoded.
      const { intervalMs, thresholdDb } = this.speakingSettings;
      const levels = await router.createAudioLevelObserver({ maxEntries: 64, threshold: thresholdDb, interval: intervalMs });
      levels.on('volumes', (volumes) => {
        for (const { producer } of volumes) this.loud(producer.id);
      });
      if (this.closed) router.close();
      return { router, worker, levels };
    } catch (error) {
      worker.rooms--;
      throw error;
    }
  }

  add(peer: Peer): void {
    const existing = this.participants().flatMap((other) => other.producers.map((producer) => ({ producer, userId: other.userId })));
    this.peers.set(peer.userId, peer);
    peer.start(existing);
    if (this.isDirectMessage) {
      if (this.peers.size === 1) {
        this.unansweredTimer ??= setTimeout(() => this.closeAll(CLOSE_REASONS.inactive), this.host.inactiveChannelMs);
      } else {
        clearTimeout(this.unansweredTimer);
      }
    }
  }

  /** Closes every peer; each departure is announced as usual. */
  closeAll(reason: string): void {
    this.closingReason ??= reason;
    for (const peer of this.participants()) peer.close(reason);
  }

  async createTransport(peer: Peer): Promise<types.WebRtcTransport> {
    const { router, worker } = await this.media;
    return router.createWebRtcTransport({
      webRtcServer: worker.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      appData: { userId: peer.userId },
    });
  }

  producerAdded(source: Peer, producer: types.Producer): void {
    for (const peer of this.peers.values()) if (peer !== source) peer.consume(producer, source.userId);
    if (producer.kind === 'audio') {
      this.microphones.set(producer.id, source);
      // A closed producer leaves the observer by itself.
      producer.observer.once('close', () => this.microphones.delete(producer.id));
      this.media.then(({ levels }) => levels.addProducer({ producerId: producer.id })).catch((error: Error) => {
        if (!producer.closed) this.log(`voice room ${this.channelId}: audio level observer: ${error.message}`);
      });
    }
  }

  /**
   * A microphone was loud in the last interval: its user speaks now (reported once), and stops speaking
   * when no loud interval came for `holdMs` (a paused or muted producer sends nothing, so that ends it too).
   */
  private loud(producerId: string): void {
    const peer = this.microphones.get(producerId);
    if (!peer || this.peers.get(peer.userId) !== peer) return;
    const current = this.speakers.get(peer.userId);
    if (current?.peer === peer) {
      current.quiet.refresh();
      return;
    }
    const quiet = setTimeout(() => {
      if (this.speakers.get(peer.userId)?.peer !== peer) return;
      this.speakers.delete(peer.userId);
      if (this.peers.get(peer.userId) === peer) this.host.presence.speaking({ ...peer.participant, speaking: false });
    }, this.speakingSettings.holdMs);
    this.speakers.set(peer.userId, { peer, quiet });
    this.host.presence.speaking({ ...peer.participant, speaking: true });
  }

  /** Forgets whether the peer speaks, without a report (its departure says it). */
  private forgetSpeaker(peer: Peer): void {
    const current = this.speakers.get(peer.userId);
    if (current?.peer !== peer) return;
    clearTimeout(current.quiet);
    this.speakers.delete(peer.userId);
  }

  connected(peer: Peer): void {
    this.host.presence.joined({ ...peer.participant, joined: peer.joined, ...peer.flags }, (answer) => {
      if (this.peers.get(peer.userId) !== peer) return;
      if (answer.refused) peer.close(CLOSE_REASONS.noAccess);
      // Its announcement, if anything changes, queues behind `joined`.
      else if (answer.admin) peer.setAdminState(answer.admin);
    });
  }

  stateChanged(peer: Peer, delta: { mute?: 0 | 1 | 2; deaf?: 0 | 1 | 2; video?: 0 | 1 }): void {
    this.host.presence.changed({ ...peer.participant, ...delta });
    // The workspace socket's `media-state-updated` of this change says `speaking` false (the port's change
    // carries none): a participant who still speaks is reported again after it (a mute ends it by itself).
    if (this.speakers.get(peer.userId)?.peer === peer && delta.mute === undefined) this.host.presence.speaking({ ...peer.participant, speaking: true });
  }

  departed(peer: Peer): void {
    if (this.peers.get(peer.userId) !== peer) return;
    this.peers.delete(peer.userId);
    this.forgetSpeaker(peer);
    // Closed for the user's new voice socket elsewhere: his other devices learn it (user-changed-device).
    this.host.presence.left(peer.participant, peer.closedFor === CLOSE_REASONS.otherChannel ? { replaced: true } : undefined);
    this.host.peerDeparted(peer);
    if (this.peers.size === 0) this.close();
    else if (this.isDirectMessage && this.closingReason === undefined && this.peers.size < 2) this.closeAll(CLOSE_REASONS.callEnded);
  }

  log(line: string, fields?: LogFields): void {
    this.host.log(line, fields);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.unansweredTimer);
    for (const { quiet } of this.speakers.values()) clearTimeout(quiet);
    this.speakers.clear();
    this.media.then(
      ({ router, worker }) => {
        router.close();
        worker.rooms--;
      },
      () => undefined,
    );
    this.host.roomClosed(this);
  }
}

import { channelAudience } from './access';
import { CHANNEL_TYPE, canSeeChannel, type Channel, findChannel, overridesOf } from './channels';
import { applied, attr, type Db, ex, exists, type Item, queryPrefix } from './db';
import { badRequest, DomainError, forbidden, notFound, TEXT } from './errors';
import { events } from './events';
import { audience, type FanoutContext, publish } from './fanout';
import { readPair } from './friends';
import { hasPermission, Perm } from './permissions';
import { loadServerContext, type ServerContext, subjectOf } from './servers';
import { authenticate } from './sessions';
import { build, voiceExpiry } from './items';
import { keys, partitions, prefixes, TTL_ATTRIBUTE } from './table';
import { epochSeconds } from './time';
import { type AdminVoiceState, adminVoiceStateOf } from './voice-admin';

/**
 * Voice membership, as the media nodes report it. One item per (channel, user), refreshed by the node's
 * heartbeat; a node that dies stops refreshing, and within `VOICE_STATE_TTL_SECONDS` its users vanish
 * from `vc_users` and the sweeper announces `user_left_vc` for them.
 */
export const VOICE_STATE_TTL_SECONDS = 30;

/** `{id, joined, mute, deaf, video}`: the VC state of REST `vc_users` and `user_joined_vc`. */
export interface VoiceState {
  id: number;
  joined: string;
  mute: number;
  deaf: number;
  video: number;
}

export interface VoiceParticipant {
  userId: number;
  channelId: number;
  serverId?: number;
}

const stateKey = keys.voiceState;
/** Where a user's voice connection lives (one per user), so REST can reach his node from his id alone. */
const userVoiceKey = keys.userVoice;
function expiresAt(now: number): number {
  return epochSeconds(now) + VOICE_STATE_TTL_SECONDS;
}

function stateFromItem(item: Item): VoiceState {
  return { id: Number(item.userId), joined: String(item.joined), mute: Number(item.mute), deaf: Number(item.deaf), video: Number(item.video) };
}

/** Who is in a voice channel now (one Query), for REST `vc_users`. */
export async function voiceStatesOf(db: Db, channelId: number, now = Date.now()): Promise<VoiceState[]> {
  const items = await queryPrefix(db, partitions.channel(channelId), prefixes.voiceState);
  return items.filter((item) => Number(item[TTL_ATTRIBUTE]) > epochSeconds(now)).map(stateFromItem);
}

export type Admission =
  /** `admin`: the stored admin mute/deafen, for server channels. */
  | { ok: true; userId: number; channel: Channel; admin?: AdminVoiceState }
  | { ok: false; error: DomainError };

/**
 * Who may open a voice socket to which channel (docs/upstream.md, "The voice socket", refusals as HTTP statuses per
 * decision 13 of docs/upstream.md): a valid session; a voice channel that exists; for a DM call, a participant calling an
 * accepted friend; for a server channel, a member who can see it and has JOIN_VC there. For a server
 * channel it also returns the user's admin mute/deafen, read alongside the permission data.
 */
export async function admitToVoice(db: Db, token: string | undefined, rawChannel: string): Promise<Admission> {
  let userId: number;
  try {
    userId = await authenticate(db, token);
  } catch (error) {
    if (error instanceof DomainError) return { ok: false, error };
    throw error;
  }
  if (!/^\d{1,15}$/.test(rawChannel)) return { ok: false, error: badRequest(`Couldn't parse channel ID, got '${rawChannel.slice(0, 32)}'`) };
  const channelId = Number(rawChannel);
  const channel = await findChannel(db, channelId);
  if (!channel || channel.type !== CHANNEL_TYPE.VOICE) return { ok: false, error: notFound(TEXT.noVoiceAccess) };
  if (channel.serverId === undefined) {
    const participants: readonly number[] = channel.participants ?? [];
    if (!participants.includes(userId)) return { ok: false, error: notFound(TEXT.channelNotFound) };
    const other = participants.find((id) => id !== userId);
    if (other === undefined) return { ok: false, error: badRequest('Cannot call yourself') };
    if ((await readPair(db, userId, other)).relation !== 'friends') return { ok: false, error: forbidden(TEXT.notFriend) };
    return { ok: true, userId, channel };
  }
  const [server, admin] = await Promise.all([loadServerContext(db, channel.serverId, userId), adminVoiceStateOf(db, channel.serverId, userId)]);
  const refusal = serverVoiceRefusal(server, channel, userId);
  if (refusal === 'hidden') return { ok: false, error: notFound(TEXT.channelNotFound) };
  if (refusal === 'no-permission') return { ok: false, error: forbidden(TEXT.noPermission) };
  return { ok: true, userId, channel, admin };
}

/**
 * The rule for being in a server's voice channel, at admission and for as long as the connection lasts
 * (voice-access.ts): a member who can see the channel and has JOIN_VC there, channel overrides included.
 * `hidden` also covers a server or channel that is gone.
 */
export function serverVoiceRefusal(server: ServerContext | undefined, channel: Channel | undefined, userId: number): 'hidden' | 'no-permission' | undefined {
  if (!server?.member || !channel || channel.type !== CHANNEL_TYPE.VOICE || channel.serverId !== server.server.id) return 'hidden';
  const subject = subjectOf(server, userId);
  if (!canSeeChannel(subject, channel)) return 'hidden';
  if (!hasPermission(subject, Perm.JOIN_VC, overridesOf(channel))) return 'no-permission';
  return undefined;
}

async function audienceOf(db: Db, participant: VoiceParticipant) {
  const channel = await findChannel(db, participant.channelId);
  if (!channel) return undefined;
  const server = channel.serverId === undefined ? undefined : await loadServerContext(db, channel.serverId, participant.userId);
  return channelAudience(channel, server, participant.userId);
}

/**
 * The user's WebRTC transport connected on `node`: store his state, announce `user_joined_vc`. In a server
 * channel, returns his admin mute/deafen as stored once his location is written. A change made since his
 * admission, while REST could not yet find his node, is in it: REST writes the state and then reads the
 * location, this writes the location and then reads the state, both strongly consistent.
 * The same holds for access: a change since his admission that took the channel from him (found nobody
 * to end, voice-access.ts) is seen here; then his state is forgotten unannounced and `refused` says so.
 */
export async function voiceJoined(
  context: FanoutContext,
  node: string,
  state: VoiceParticipant & Omit<VoiceState, 'id'>,
  now = Date.now(),
): Promise<{ admin?: AdminVoiceState; refused?: boolean }> {
  const { db } = context;
  await db.put(build.voiceState(state, node, expiresAt(now)));
  await db.put(build.userVoice(state.userId, state.channelId, state.serverId, node, expiresAt(now)));
  const [admin, allowed] = await Promise.all([
    state.serverId === undefined ? undefined : adminVoiceStateOf(db, state.serverId, state.userId, true),
    (async () => {
      const channel = await findChannel(db, state.channelId);
      const server = channel?.serverId === undefined ? undefined : await loadServerContext(db, channel.serverId, state.userId, true);
      if (!channel || (channel.serverId !== undefined && serverVoiceRefusal(server, channel, state.userId))) return false;
      const { userId: _u, channelId: _c, serverId: _s, ...vc } = state;
      await publish(context, events.userJoinedVc(state, vc), channelAudience(channel, server, state.userId));
      return true;
    })(),
  ]);
  if (!allowed) {
    await forgetVoiceState(db, state);
    return { refused: true };
  }
  return { admin };
}

/**
 * The user's voice socket closed: forget his state and announce `user_left_vc` (only if he had joined).
 * `replaced`: a voice socket he opened elsewhere took its place (the one-channel-per-user rule): his own
 * connections are then told `user_changed_device`, after the departure.
 */
export async function voiceLeft(context: FanoutContext, participant: VoiceParticipant, departure: { replaced?: boolean } = {}): Promise<void> {
  if (!(await forgetVoiceState(context.db, participant))) return;
  const target = await audienceOf(context.db, participant);
  if (target) await publish(context, events.userLeftVc(participant), target);
  if (departure.replaced) await publish(context, events.userChangedDevice(participant.userId), audience.user(participant.userId));
}

/**
 * The participant started or stopped speaking (the node reports changes only, debounced): announced with his
 * whole stored state, to the channel's audience, without a write. Speaking is not stored: it changes at the
 * pace of speech, nothing reads it back (REST's `vc_users` has no such field), and it is stale as soon as
 * stored. A participant whose state is gone (he left meanwhile) is not announced.
 */
export async function voiceSpeaking(context: FanoutContext, change: VoiceParticipant & { speaking: boolean }): Promise<void> {
  const [item, target] = await Promise.all([context.db.get(stateKey(change.channelId, change.userId), { consistent: true }), audienceOf(context.db, change)]);
  if (!item || !target) return;
  const { userId, channelId, serverId } = change;
  const participant = { userId, channelId, ...(serverId !== undefined ? { serverId } : {}) };
  const state = { mute: Number(item.mute ?? 0), deaf: Number(item.deaf ?? 0), video: Number(item.video ?? 0) };
  await publish(context, events.userSpeaking(participant, change.speaking, state), target);
}

/** Deletes the user's state in the channel and his location if it is that channel; false when there was none. */
async function forgetVoiceState(db: Db, participant: VoiceParticipant): Promise<boolean> {
  const removed = await db.delete(stateKey(participant.channelId, participant.userId), { returning: 'ALL_OLD' });
  if (!removed) return false;
  await applied(db.delete(userVoiceKey(participant.userId), { if: ex`channelId = ${participant.channelId}` }));
  return true;
}

/** Mute, deafen or video changed: store it, announce `user_changed_vc_state` with only the changed keys. */
export async function voiceChanged(
  context: FanoutContext,
  change: VoiceParticipant & { mute?: number; deaf?: number; video?: number },
): Promise<void> {
  const { db } = context;
  const changed = Object.fromEntries((['mute', 'deaf', 'video'] as const).filter((k) => change[k] !== undefined).map((k) => [k, change[k]!]));
  if (Object.keys(changed).length === 0) return;
  let after: Item | undefined;
  const write = db.update(stateKey(change.channelId, change.userId), { set: changed }, { if: exists, returning: 'ALL_NEW' }).then((item) => {
    after = item;
  });
  if (!(await applied(write))) return;
  const target = await audienceOf(db, change);
  // The whole state too: the workspace socket's `media-state-updated` carries it whole.
  const state = after ? { mute: Number(after.mute ?? 0), deaf: Number(after.deaf ?? 0), video: Number(after.video ?? 0) } : undefined;
  if (target) await publish(context, events.userChangedVcState(change, changed, state), target);
}

/** The node is alive and these users are still connected on it. */
export async function voiceHeartbeat(db: Db, participants: VoiceParticipant[], now = Date.now()): Promise<void> {
  const next = voiceExpiry(expiresAt(now));
  await Promise.all(
    participants.flatMap((p) => [stateKey(p.channelId, p.userId), userVoiceKey(p.userId)]).map((key) =>
      applied(db.update(key, { set: next }, { if: exists })),
    ),
  );
}

/**
 * Voice states whose node stopped refreshing them: each is removed once (conditional delete) and
 * announced with `user_left_vc`. Returns how many were swept.
 */
export async function sweepExpiredVoiceStates(context: FanoutContext, now = Date.now()): Promise<number> {
  const { db } = context;
  const cutoff = epochSeconds(now);
  const result = await db.queryPage({ index: true, partition: keys.allVoiceStatesIndex(), to: keys.voiceStateIndexSort(cutoff) });
  let swept = 0;
  for (const item of result.items) {
    const participant = { userId: Number(item.userId), channelId: Number(item.channelId), serverId: item.serverId === undefined ? undefined : Number(item.serverId) };
    if (!(await applied(db.delete(stateKey(participant.channelId, participant.userId), { if: ex`${attr(TTL_ATTRIBUTE)} <= ${cutoff}` })))) continue;
    swept++;
    const target = await audienceOf(db, participant);
    if (target) await publish(context, events.userLeftVc(participant), target);
  }
  return swept;
}

/** How many voice states are alive now (one Query of the sparse index, counting only): the media node's idle check. */
export async function liveVoiceStateCount(db: Db, now = Date.now()): Promise<number> {
  return db.count({ index: true, partition: keys.allVoiceStatesIndex(), after: keys.voiceStateIndexSort(epochSeconds(now)) });
}

/** Where a user is in voice now: his channel, its server and the node hosting him. */
export async function voiceLocationOf(db: Db, userId: number, now = Date.now()): Promise<{ channelId: number; serverId?: number; node: string } | undefined> {
  const item = await db.get(userVoiceKey(userId), { consistent: true });
  if (!item || Number(item[TTL_ATTRIBUTE]) <= epochSeconds(now)) return undefined;
  return { channelId: Number(item.channelId), serverId: item.serverId === undefined ? undefined : Number(item.serverId), node: String(item.node) };
}

/** A user in voice in a server channel, and the node hosting him. */
export interface VoiceSession {
  userId: number;
  channelId: number;
  serverId: number;
  node: string;
}

/** Who is in a voice channel now, with their nodes (one Query). */
export async function voiceSessionsOfChannel(db: Db, channel: { id: number; serverId: number }, now = Date.now()): Promise<VoiceSession[]> {
  // Strongly consistent: a node that has written a state before this read is found (voiceJoined).
  const items = await queryPrefix(db, partitions.channel(channel.id), prefixes.voiceState, { consistent: true });
  return items
    .filter((item) => Number(item[TTL_ATTRIBUTE]) > epochSeconds(now))
    .map((item) => ({ userId: Number(item.userId), channelId: channel.id, serverId: channel.serverId, node: String(item.node) }));
}

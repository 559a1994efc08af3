import { anyLiveConnection } from './connections';
import { applied, attr, type Db, ex, type Item } from './db';
import { log } from './log';
import { keys } from './table';
import { liveVoiceStateCount } from './voice';

/**
 * Pay-per-use voice: the media node (one EC2 instance) runs only while someone may talk. It is started when
 * a member comes online (the main socket's `$connect`, `startOn: 'online'`) or, with `startOn: 'voice'`, only
 * when a voice join is attempted (the voice wake, voice-wake.ts), and stopped by a scheduled check once
 * nobody has been active for an idle time: nobody online and nobody in voice, or with `voice` nobody in
 * voice. docs/deploy.md ("Media node on demand") has the costs, docs/voice.md the start-up window.
 *
 * The truth about the node is one item (`keys.mediaNodeLifecycle()`), changed only by conditional writes:
 * a storm of `$connect`s all read "stopped" and race for stopped -> starting, exactly one wins and calls EC2.
 * While the node is known to run, `$connect` costs one eventually consistent GetItem, or nothing within
 * `cacheMs` of the last one in the same Lambda instance.
 */

/** EC2's instance states (`InstanceState.Name`). */
export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

/**
 * What the lifecycle needs of EC2: start and stop one instance, each answering the instance's state right
 * after the call (lambdas/aws/ec2-instance.ts on AWS). Both are idempotent: starting a pending or running
 * instance, or stopping a stopping or stopped one, changes nothing and reports where it is. EC2 refuses to
 * start a stopping instance and to stop a pending one (IncorrectInstanceStateError).
 */
export interface Ec2Port {
  readonly instanceId: string;
  start(): Promise<InstanceState>;
  stop(): Promise<InstanceState>;
}

/** EC2 refuses to start an instance that is still stopping (error code IncorrectInstanceState). */
export class IncorrectInstanceStateError extends Error {
  override readonly name = 'IncorrectInstanceStateError';
}

export type NodeState = 'stopped' | 'starting' | 'running' | 'stopping';

/**
 * What starts the node and what keeps it up. `online`: a member coming online starts it, and anyone online
 * or in voice keeps it. `voice`: only a voice join attempt starts it (the voice wake answers `voice.<domain>`
 * while the node is stopped), and only voice participants keep it: being online costs nothing.
 */
export type MediaStartOn = 'online' | 'voice';
export const MEDIA_START_ON: readonly MediaStartOn[] = ['online', 'voice'];

/** Defaults: stop after 15 idle minutes; a Lambda instance trusts "running" for 30 s without reading. */
export const MEDIA_NODE_IDLE_MINUTES = 15;
export const RUNNING_CACHE_MS = 30_000;
/** Modelled start-up (EC2 from stopped to running plus the node's boot): what Retry-After says while starting. */
export const EXPECTED_START_SECONDS = 90;

export interface MediaNodeLifecycleOptions {
  ec2: Ec2Port;
  idleMs?: number;
  cacheMs?: number;
  /** Default `online`. */
  startOn?: MediaStartOn;
  /** One JSON line per transition (log + CloudWatch Embedded Metric Format); console.log by default. */
  log?: (line: string) => void;
}

/**
 * The lifecycle of one media node as seen by one process (a Lambda instance): its EC2 port, its idle time
 * and the short-lived knowledge that the node runs.
 */
export class MediaNodeLifecycle {
  readonly ec2: Ec2Port;
  readonly idleMs: number;
  readonly cacheMs: number;
  readonly startOn: MediaStartOn;
  readonly log: (line: string) => void;
  /** Until when this process takes "running" for granted (0: ask the table). */
  knownRunningUntil = 0;

  constructor(options: MediaNodeLifecycleOptions) {
    this.ec2 = options.ec2;
    this.idleMs = options.idleMs ?? MEDIA_NODE_IDLE_MINUTES * 60_000;
    this.cacheMs = options.cacheMs ?? RUNNING_CACHE_MS;
    this.startOn = options.startOn ?? 'online';
    // A cached "running" older than the idle time could hide a stop decided meanwhile (see checkMediaNode).
    if (this.cacheMs >= this.idleMs) throw new Error('the running cache must be shorter than the idle time');
    this.log = options.log ?? ((line) => console.log(line));
  }
}

export interface LifecycleContext {
  db: Db;
  /** Absent: the node always runs (the local runtime's in-process node, or a stack without on-demand voice). */
  mediaNode?: MediaNodeLifecycle;
}

export interface NodeRecord {
  state: NodeState;
  /** When the current state began (ms). */
  since: number;
  /** Set by the idle check when it first found nobody online and nobody in voice (ms). */
  idleSince?: number;
  instanceId?: string;
  /** Transitions so far: observability only. */
  transitions: number;
}

const KEY = keys.mediaNodeLifecycle();
const STATE = attr('state');

function recordOf(item: Item | undefined, instanceId: string): NodeRecord | undefined {
  // An item about another instance (the stack replaced the node) says nothing about this one.
  if (!item || item.instanceId !== instanceId) return undefined;
  return {
    state: item.state as NodeState,
    since: Number(item.since),
    idleSince: item.idleSince === undefined ? undefined : Number(item.idleSince),
    instanceId: String(item.instanceId),
    transitions: Number(item.transitions ?? 0),
  };
}

export async function readNodeRecord(db: Db, instanceId: string, consistent: boolean): Promise<NodeRecord | undefined> {
  return recordOf(await db.get(KEY, { consistent }), instanceId);
}

/** A conditional update; false when the condition failed (someone else moved the state first). */
async function conditionalUpdate(db: Db, update: { set: Record<string, unknown>; condition: ReturnType<typeof ex>; remove?: boolean }): Promise<boolean> {
  return applied(db.update(KEY, { set: update.set, remove: update.remove ? ['idleSince'] : [] }, { if: update.condition }));
}

/**
 * Moves the node to `to` if it is still in `from` (`undefined`: no record of this instance yet).
 * Every transition clears the idle countdown.
 */
async function transition(db: Db, instanceId: string, from: NodeState | undefined, to: NodeState, now: number): Promise<boolean> {
  const condition =
    from === undefined
      ? ex`(attribute_not_exists(pk) OR instanceId <> ${instanceId})`
      : // The instance check keeps a record of a replaced instance from being taken for this one.
        ex`${STATE} = ${from} AND instanceId = ${instanceId}`;
  return conditionalUpdate(db, {
    set: { state: to, since: now, instanceId, transitions: ex`if_not_exists(transitions, ${0}) + ${1}` },
    remove: true,
    condition,
  });
}

/**
 * One JSON line per transition. Starts and stops also carry a CloudWatch Embedded Metric Format block
 * (metrics `MediaNodeStarts` and `MediaNodeStops`, namespace ZavodChat, no dimensions): CloudWatch bills a
 * custom metric per metric and per hour it receives data, so two dimensionless metrics sent a few times a
 * day cost cents, where one metric per transition kind would cost more than the rest of the lifecycle.
 */
type TransitionMetric = 'MediaNodeStarts' | 'MediaNodeStops';

function report(lifecycle: MediaNodeLifecycle, from: NodeState | 'unknown', to: NodeState, reason: string, now: number, detail: Record<string, unknown> = {}): void {
  const metric: TransitionMetric | undefined = to === 'starting' ? 'MediaNodeStarts' : to === 'stopping' ? 'MediaNodeStops' : undefined;
  lifecycle.log(
    JSON.stringify({
      level: 'info',
      where: 'media-node-lifecycle',
      instanceId: lifecycle.ec2.instanceId,
      from,
      to,
      reason,
      ...detail,
      ...(metric
        ? {
            _aws: { Timestamp: now, CloudWatchMetrics: [{ Namespace: 'ZavodChat', Dimensions: [[]], Metrics: [{ Name: metric, Unit: 'Count' }] }] },
            [metric]: 1,
          }
        : {}),
    }),
  );
}

export type Availability =
  | { state: 'running' }
  | { state: 'starting' | 'stopped' | 'stopping' | 'unknown'; retryAfterSeconds: number }
  /** `startOn: 'voice'`: a member coming online does not start the node (nothing was read or written). */
  | { state: 'waits-for-voice' };

function notYet(state: 'starting' | 'stopped' | 'stopping' | 'unknown', since: number | undefined, now: number): Availability {
  const elapsed = since === undefined ? 0 : Math.max(0, (now - since) / 1000);
  return { state, retryAfterSeconds: Math.max(5, Math.ceil(EXPECTED_START_SECONDS - elapsed)) };
}

/** EC2 StartInstances; a node still stopping is started by the next check instead. */
async function startInstance(lifecycle: MediaNodeLifecycle): Promise<InstanceState | 'still-stopping'> {
  try {
    return await lifecycle.ec2.start();
  } catch (error) {
    if (error instanceof IncorrectInstanceStateError) return 'still-stopping';
    throw error;
  }
}

async function ensure(db: Db, lifecycle: MediaNodeLifecycle, reason: string, now: number): Promise<Availability> {
  if (now < lifecycle.knownRunningUntil) return { state: 'running' };
  const instanceId = lifecycle.ec2.instanceId;
  // Eventually consistent is enough: a countdown is set at least `idleMs` before it can stop the node.
  let record = await readNodeRecord(db, instanceId, false);
  for (let attempt = 0; attempt < 4; attempt++) {
    if (record?.state === 'running') {
      if (record.idleSince === undefined) {
        lifecycle.knownRunningUntil = now + lifecycle.cacheMs;
        return { state: 'running' };
      }
      // The idle check is counting down: someone is here again, cancel it. If the check got there first
      // (the node is now stopping), the state below starts it again.
      const cancelled = await conditionalUpdate(db, { set: { lastActiveAt: now }, remove: true, condition: ex`${STATE} = ${'running'} AND instanceId = ${instanceId}` });
      if (cancelled) {
        lifecycle.knownRunningUntil = now + lifecycle.cacheMs;
        return { state: 'running' };
      }
    } else if (record?.state === 'starting') {
      return notYet('starting', record.since, now);
    } else if (await transition(db, instanceId, record?.state, 'starting', now)) {
      // Exactly one caller gets here per stop: the conditional write above is the lock.
      report(lifecycle, record?.state ?? 'unknown', 'starting', reason, now);
      const instance = await startInstance(lifecycle);
      // First use after a deploy: the instance CloudFormation created runs already, record that at once.
      // After a stop, "running" may only mean the stop was claimed but not yet sent to EC2: the next check
      // confirms with its own StartInstances (and starts it again once it has stopped).
      if (instance === 'running' && record === undefined) {
        if (await transition(db, instanceId, 'starting', 'running', now)) report(lifecycle, 'starting', 'running', 'already running', now);
        return { state: 'running' };
      }
      return notYet('starting', now, now);
    }
    record = await readNodeRecord(db, instanceId, true);
  }
  return notYet('unknown', undefined, now);
}

/**
 * Called by the main socket's `$connect` once the connection is open: a member came online. Starts the node
 * only where that is the trigger (`startOn: 'online'`); with `voice` it does nothing at all.
 * Never throws: a failure to start the node is logged and must not refuse the main socket.
 */
export async function ensureMediaNodeRunning(context: LifecycleContext, now = Date.now(), reason = 'member online'): Promise<Availability> {
  if (context.mediaNode?.startOn === 'voice') return { state: 'waits-for-voice' };
  return requestMediaNode(context, now, reason);
}

/**
 * Somebody needs the node now (a voice join attempt: voice-wake.ts), whatever `startOn` says: starts it if
 * it is stopped, cancels an idle countdown if it runs. Idempotent under concurrency (one conditional write
 * claims the start). Never throws: a failure is logged and reported as `unknown`.
 */
export async function requestMediaNode(context: LifecycleContext, now = Date.now(), reason = 'voice join attempted'): Promise<Availability> {
  const lifecycle = context.mediaNode;
  if (!lifecycle) return { state: 'running' };
  try {
    return await ensure(context.db, lifecycle, reason, now);
  } catch (error) {
    log().error('media node lifecycle: start', error);
    return notYet('unknown', undefined, now);
  }
}

/** 1 when any main-socket connection is live (connections.ts, `anyLiveConnection`), else 0. */
export async function onlineUserCount(db: Db, now = Date.now()): Promise<number> {
  return (await anyLiveConnection(db, now)) ? 1 : 0;
}

export interface Activity {
  /** 1 when somebody is online (the count stops at the first one found); always 0 with `startOn: 'voice'`. */
  online: number;
  inVoice: number;
}

/** What keeps the node up: with `startOn: 'voice'` the voice participants alone (the online count is not even read). */
export async function mediaNodeActivity(db: Db, now: number, startOn: MediaStartOn = 'online'): Promise<Activity> {
  if (startOn === 'voice') return { online: 0, inVoice: await liveVoiceStateCount(db, now) };
  const [online, inVoice] = await Promise.all([onlineUserCount(db, now), liveVoiceStateCount(db, now)]);
  return { online, inVoice };
}

const active = (activity: Activity) => activity.online > 0 || activity.inVoice > 0;

export type CheckOutcome =
  | 'recorded'
  | 'started'
  | 'running'
  | 'idle-countdown'
  | 'idle-cancelled'
  | 'stopped'
  | 'stopping'
  | 'stop-cancelled'
  | 'waiting'
  | 'nothing';
/**
 * The scheduled check (every minute): completes transitions EC2 finishes on its own (starting -> running,
 * stopping -> stopped), retries a start EC2 refused, starts a stopped node someone is active for, and stops
 * a running node after `idleMs` with nobody active (mediaNodeActivity: with `startOn: 'voice'` only voice
 * participants count). Never stops while a count is above zero: the countdown is one conditional attribute,
 * cancelled by the check itself or by any start request (`$connect`, the voice wake), and the stop is claimed only if the countdown it saw is still the one in the table; activity
 * is counted once more after the claim, before EC2 is asked to stop.
 *
 * It learns EC2's state from StartInstances and StopInstances themselves (both answer the current state and
 * change nothing when the instance is already where they would take it), never from DescribeInstances,
 * which IAM cannot scope to one instance: the check's role holds two actions on one instance ARN.
 */
export async function checkMediaNode(context: LifecycleContext, now = Date.now()): Promise<CheckOutcome> {
  const lifecycle = context.mediaNode;
  if (!lifecycle) return 'nothing';
  const { db } = context;
  const { ec2 } = lifecycle;
  // The check decides from the table alone, never from what this process saw earlier.
  lifecycle.knownRunningUntil = 0;
  const record = await readNodeRecord(db, ec2.instanceId, true);

  if (!record) {
    // First check after a deploy or an instance replacement: CloudFormation leaves a new instance running.
    // Record it as starting; the next check's StartInstances confirms it (or starts it, and the idle
    // countdown stops it again if nobody comes).
    if (await transition(db, ec2.instanceId, undefined, 'starting', now)) report(lifecycle, 'unknown', 'starting', 'first check of this instance', now);
    return 'recorded';
  }

  switch (record.state) {
    case 'starting': {
      const instance = await startInstance(lifecycle);
      if (instance === 'running') {
        if (await transition(db, ec2.instanceId, 'starting', 'running', now)) report(lifecycle, 'starting', 'running', 'EC2 reports running', now, { seconds: (now - record.since) / 1000 });
        return 'running';
      }
      // 'pending' after a start the `$connect` made; a start EC2 refused (still stopping) is retried next time.
      return instance === 'still-stopping' ? 'waiting' : 'started';
    }
    case 'stopping': {
      let instance: InstanceState | 'not-stoppable';
      try {
        instance = await ec2.stop();
      } catch (error) {
        if (!(error instanceof IncorrectInstanceStateError)) throw error;
        instance = 'not-stoppable';
      }
      if (instance === 'stopped') {
        if (await transition(db, ec2.instanceId, 'stopping', 'stopped', now)) report(lifecycle, 'stopping', 'stopped', 'EC2 reports stopped', now);
        return 'stopped';
      }
      return 'waiting';
    }
    case 'stopped': {
      // Normally `$connect` (or the voice wake) starts it; this catches a start that failed there.
      const activity = await mediaNodeActivity(db, now, lifecycle.startOn);
      if (!active(activity)) return 'nothing';
      await ensure(db, lifecycle, 'check: someone active while stopped', now);
      return 'started';
    }
    case 'running': {
      const activity = await mediaNodeActivity(db, now, lifecycle.startOn);
      if (active(activity)) {
        if (record.idleSince === undefined) return 'running';
        await conditionalUpdate(db, { set: { lastActiveAt: now }, remove: true, condition: ex`${STATE} = ${'running'}` });
        return 'idle-cancelled';
      }
      if (record.idleSince === undefined) {
        await conditionalUpdate(db, { set: { idleSince: now }, condition: ex`${STATE} = ${'running'} AND attribute_not_exists(idleSince)` });
        return 'idle-countdown';
      }
      if (now - record.idleSince < lifecycle.idleMs) return 'idle-countdown';
      // Claim the stop only if nobody cancelled the countdown this check saw (a `$connect` removes it).
      const claimed = await conditionalUpdate(db, {
        set: { state: 'stopping', since: now, transitions: ex`transitions + ${1}` },
        remove: true,
        condition: ex`${STATE} = ${'running'} AND idleSince = ${record.idleSince}`,
      });
      if (!claimed) return 'idle-cancelled';
      // Someone who came online between the count and the claim wrote his connection before reading the
      // state; the index may show him a moment late, so count again before asking EC2.
      const again = await mediaNodeActivity(db, now, lifecycle.startOn);
      if (active(again)) {
        // Back to running, unless a `$connect` already moved it to starting (the next check completes that).
        await transition(db, ec2.instanceId, 'stopping', 'running', now);
        return 'stop-cancelled';
      }
      report(lifecycle, 'running', 'stopping', 'idle', now, { idleSeconds: (now - record.idleSince) / 1000 });
      const instance = await ec2.stop();
      if (instance === 'stopped' && (await transition(db, ec2.instanceId, 'stopping', 'stopped', now))) {
        report(lifecycle, 'stopping', 'stopped', 'EC2 reports stopped', now);
        return 'stopped';
      }
      return 'stopping';
    }
  }
}

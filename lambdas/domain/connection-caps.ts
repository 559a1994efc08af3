import { CONNECTION_TTL_SECONDS, releaseSlot } from './connections';
import { applied, attr, type Db, ex, queryPrefix } from './db';
import { build } from './items';
import { keys, prefixes, TTL_ATTRIBUTE } from './table';
import { epochSeconds } from './time';

/**
 * Caps on open main-socket connections (per user, per source address) as leases: a partition holds
 * `capacity` numbered slot items, and a connection may open only by claiming a free one with a
 * conditional put. A slot is free when absent or expired, so the cap is exact under any concurrency (two
 * connects can never hold one slot) and a dead connection never counts for ever: its slot expires with
 * the connection item (API Gateway's 2-hour limit plus a margin), is freed by `$disconnect` or a 410 prune
 * (removeConnection), and, when the partition is full, holders the Management API reports gone are pruned
 * on the spot.
 */

const SLOT_PREFIX = prefixes.connectionSlot;
/** Holders probed per refused attempt when the partition is full: bounds what a flood at the cap costs. */
export const PROBES_PER_ATTEMPT = 8;

export const slotPartitions = {
  user: keys.slotsOfUser,
  address: keys.slotsOfAddress,
};

export interface SlotClaim {
  pk: string;
  sk: string;
}

export interface CapProbe {
  /** False when the Management API says the connection no longer exists. */
  exists(connectionId: string): Promise<boolean>;
  /** Forgets a connection found gone (removeConnection and what follows), which frees its slots. */
  drop(connectionId: string): Promise<void>;
}

function shuffle<T>(values: T[]): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

/**
 * A connection still inside its `$connect` is not known to the Management API yet: its slot is not probed
 * until API Gateway's integration timeout (29 s) has surely passed.
 */
const PROBE_AFTER_MS = 30_000;

interface Holder {
  connectionId: string;
  claimedAt: number;
}

async function heldSlots(db: Db, pk: string, nowSeconds: number): Promise<Map<number, Holder>> {
  const items = await queryPrefix(db, pk, SLOT_PREFIX, { consistent: true });
  const held = new Map<number, Holder>();
  for (const item of items) {
    if (Number(item[TTL_ATTRIBUTE]) <= nowSeconds) continue;
    held.set(Number(String(item.sk).slice(SLOT_PREFIX.length)), { connectionId: String(item.connectionId), claimedAt: Number(item.claimedAt ?? 0) });
  }
  return held;
}

async function tryClaim(db: Db, pk: string, index: number, connectionId: string, now: number): Promise<SlotClaim | undefined> {
  const nowSeconds = epochSeconds(now);
  const item = build.connectionSlot(pk, index, connectionId, now, nowSeconds + CONNECTION_TTL_SECONDS);
  const key = keys.connectionSlot(pk, index);
  return (await applied(db.put(item, { if: ex`attribute_not_exists(pk) OR ${attr(TTL_ATTRIBUTE)} <= ${nowSeconds}` }))) ? key : undefined;
}

/**
 * Claims one of `capacity` slots of partition `pk` for a connection; undefined when all are held by live
 * connections. Each lost race means another connection took that slot, so the loop ends.
 */
export async function claimSlot(db: Db, pk: string, capacity: number, connectionId: string, probe?: CapProbe, now = Date.now()): Promise<SlotClaim | undefined> {
  const nowSeconds = epochSeconds(now);
  let probed = false;
  for (let tries = 0; tries < 2 * capacity + 8; ) {
    const held = await heldSlots(db, pk, nowSeconds);
    const free = shuffle(Array.from({ length: capacity }, (_, i) => i).filter((i) => !held.has(i)));
    if (free.length === 0) {
      if (probed || !probe) return undefined;
      probed = true;
      // Full: holders whose $disconnect was lost still hold their slot; prune the ones that are gone.
      const settled = [...held.entries()].filter(([, holder]) => holder.claimedAt <= now - PROBE_AFTER_MS);
      const sample = shuffle(settled).slice(0, PROBES_PER_ATTEMPT);
      const gone = (await Promise.all(sample.map(async ([index, holder]) => ((await probe.exists(holder.connectionId)) ? undefined : ([index, holder.connectionId] as const))))).filter(
        (entry) => entry !== undefined,
      );
      if (gone.length === 0) return undefined;
      // The drop frees the slot through the connection's index; releasing it here too does not wait for that index.
      await Promise.all(gone.map(async ([index, id]) => Promise.all([probe.drop(id), releaseSlot(db, keys.connectionSlot(pk, index), id)])));
      continue;
    }
    for (const index of free.slice(0, 3)) {
      tries++;
      const claim = await tryClaim(db, pk, index, connectionId, now);
      if (claim) return claim;
    }
  }
  return undefined;
}

export { releaseSlot };

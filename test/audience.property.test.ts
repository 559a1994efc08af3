/**
 * Property: for random servers (roles, channel overrides, whitelists, memberships, blocks, stale
 * subscriptions of removed members) and a random change (kick/ban, role change, whitelist change, block,
 * new connection), every event audience resolved through DynamoDB Local equals what a small, independent
 * reference of the audience rules says: zero leaks, zero misses.
 */
import fc from 'fast-check';
import { channelAudience } from '../lambdas/domain/access';
import { type Channel, updateChannel } from '../lambdas/domain/channels';
import { connectionItem, registerConnection, subscribe } from '../lambdas/domain/connections';
import { batchWrite } from '../lambdas/domain/db';
import { audience, resolveAudience } from '../lambdas/domain/fanout';
import { removeMember, setMemberRoles } from '../lambdas/domain/members';
import type { Role } from '../lambdas/domain/permissions';
import { keys } from '../lambdas/domain/table';
import { TestSystem } from './support/system';

const CASES = Number(process.env.AUDIENCE_PROPERTY_CASES ?? 1000);
const SEED = Number(process.env.AUDIENCE_PROPERTY_SEED ?? 20261126);

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

interface World {
  ownerIndex: number;
  /** perms1 of each role, highest first; the last is the default role. */
  rolePerms: number[];
  members: Array<{ roles: number[]; connections: number; blocksActor: boolean }>;
  channels: Array<{ wlUsers: number[]; wlRoles: number[]; overrides: Array<[number, number]> }>;
  actorIndex: number;
  change:
    | { kind: 'remove'; member: number }
    | { kind: 'roles'; member: number; roles: number[] }
    | { kind: 'whitelist'; channel: number; wlUsers: number[]; wlRoles: number[] }
    | { kind: 'block'; member: number }
    | { kind: 'connect'; member: number };
}

const MEMBERS = 7;
const ROLES = 4;
/** A perms1 value with every pair drawn from 00/01/10, so MANAGE_CHANNELS varies. */
const encode = (pairs: number[]) => pairs.reduce((sum, p, i) => sum + p * 4 ** i, 0);
const perms = fc.array(fc.constantFrom(0, 1, 2), { minLength: 11, maxLength: 11 }).map(encode);
const defaultPerms = fc.array(fc.constantFrom(1, 2), { minLength: 11, maxLength: 11 }).map(encode);
const roleSet = fc.subarray([0, 1, 2], { minLength: 0 });
const userSet = fc.subarray([...Array(MEMBERS).keys()]);

const world: fc.Arbitrary<World> = fc.record({
  ownerIndex: fc.nat(MEMBERS - 1),
  rolePerms: fc.tuple(fc.array(perms, { minLength: ROLES - 1, maxLength: ROLES - 1 }), defaultPerms).map(([upper, last]) => [...upper, last]),
  members: fc.array(fc.record({ roles: roleSet, connections: fc.nat(2), blocksActor: fc.boolean() }), { minLength: MEMBERS, maxLength: MEMBERS }),
  channels: fc.array(
    fc.record({
      wlUsers: fc.oneof(fc.constant([] as number[]), userSet),
      wlRoles: fc.oneof(fc.constant([] as number[]), fc.subarray([0, 1, 2, 3])),
      overrides: fc.array(fc.tuple(fc.nat(ROLES - 1), perms), { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  actorIndex: fc.nat(MEMBERS - 1),
  change: fc.oneof(
    fc.record({ kind: fc.constant('remove' as const), member: fc.nat(MEMBERS - 1) }),
    fc.record({ kind: fc.constant('roles' as const), member: fc.nat(MEMBERS - 1), roles: roleSet }),
    fc.record({ kind: fc.constant('whitelist' as const), channel: fc.nat(2), wlUsers: userSet, wlRoles: fc.subarray([0, 1, 2, 3]) }),
    fc.record({ kind: fc.constant('block' as const), member: fc.nat(MEMBERS - 1) }),
    fc.record({ kind: fc.constant('connect' as const), member: fc.nat(MEMBERS - 1) }),
  ),
});

/** The reference: written from docs/upstream.md and docs/protocol.md alone, sharing no code with the implementation. */
function referenceCanSee(w: World, state: ReferenceState, member: number, channel: number): boolean {
  const ch = state.channels[channel];
  if (ch.wlUsers.length === 0 && ch.wlRoles.length === 0) return true;
  if (ch.wlUsers.includes(member)) return true;
  if (ch.wlRoles.some((r) => state.roles[member].includes(r))) return true;
  if (member === w.ownerIndex) return true;
  // MANAGE_CHANNELS (pair 5): the highest held role with a non-00 pair decides.
  for (let r = 0; r < ROLES; r++) {
    if (!state.roles[member].includes(r)) continue;
    const pair = Math.floor(w.rolePerms[r] / 4 ** 5) % 4;
    if (pair === 1) return true;
    if (pair === 2) return false;
  }
  return false;
}

interface ReferenceState {
  present: boolean[];
  roles: number[][];
  blocksActor: boolean[];
  connections: number[];
  channels: Array<{ wlUsers: number[]; wlRoles: number[] }>;
}

let caseNumber = 0;

async function check(w: World): Promise<void> {
  const n = ++caseNumber;
  const serverId = 1_000_000 + n;
  const userId = (member: number) => n * 100 + member;
  const roleIds = w.rolePerms.map((_, r) => n * 100 + 50 + r);
  const roles: Role[] = w.rolePerms.map((perms1, r) => ({ id: roleIds[r], name: `r${r}`, color: '#000000', perms1 }));
  const state: ReferenceState = {
    present: w.members.map(() => true),
    roles: w.members.map((m) => [...m.roles, ROLES - 1]),
    blocksActor: w.members.map((m) => m.blocksActor),
    connections: w.members.map((m) => m.connections),
    channels: w.channels.map((c) => ({ wlUsers: c.wlUsers, wlRoles: c.wlRoles })),
  };
  const actor = userId(w.actorIndex);
  const channels: Channel[] = w.channels.map((c, i) => ({
    id: n * 10 + i,
    type: 0,
    name: `c${i}`,
    serverId,
    wlUsers: c.wlUsers.map(userId),
    wlRoles: c.wlRoles.map((r) => roleIds[r]),
    overrides: Object.fromEntries(c.overrides.map(([r, p]) => [String(roleIds[r]), p])),
    lastMessageId: 0,
  }));

  const connections = w.members.flatMap((m, i) => Array.from({ length: m.connections }, (_, k) => ({ userId: userId(i), connectionId: `p${userId(i)}c${k}` })));
  await batchWrite(system.db, [
    { put: { ...keys.server(serverId), id: serverId, name: 's', ownerId: userId(w.ownerIndex) } },
    { put: { ...keys.roles(serverId), roles } },
    ...w.members.map((m, i) => ({ put: { ...keys.member(serverId, userId(i)), userId: userId(i), serverId, roles: state.roles[i].map((r) => roleIds[r]) } })),
    ...w.members.flatMap((m, i) => (m.blocksActor ? [{ put: { ...keys.blockedBy(actor, userId(i)), blockerId: userId(i) } }] : [])),
    ...channels.map((c) => ({ put: { ...keys.channel(c.id), ...c } })),
    ...connections.map((c) => ({ put: connectionItem(c) })),
  ]);
  await subscribe(system.db, connections, [serverId]);

  const change = w.change;
  switch (change.kind) {
    case 'remove':
      // Kick and ban both end in removeMember; the removed user's connections keep existing.
      await removeMember(system.db, serverId, userId(change.member), userId(w.ownerIndex));
      state.present[change.member] = false;
      break;
    case 'roles':
      state.roles[change.member] = [...change.roles, ROLES - 1];
      await setMemberRoles(system.db, serverId, userId(change.member), state.roles[change.member].map((r) => roleIds[r]));
      break;
    case 'whitelist': {
      const index = Math.min(change.channel, channels.length - 1);
      channels[index] = await updateChannel(system.db, channels[index], { wlUsers: change.wlUsers.map(userId), wlRoles: change.wlRoles.map((r) => roleIds[r]) });
      state.channels[index] = { wlUsers: change.wlUsers, wlRoles: change.wlRoles };
      break;
    }
    case 'block':
      await batchWrite(system.db, [{ put: { ...keys.blockedBy(actor, userId(change.member)), blockerId: userId(change.member) } }]);
      state.blocksActor[change.member] = true;
      break;
    case 'connect': {
      const extra = { userId: userId(change.member), connectionId: `p${userId(change.member)}extra` };
      await registerConnection(system.db, extra);
      await subscribe(system.db, [extra], [serverId]);
      state.connections[change.member] += 1;
      break;
    }
  }

  const expected = (include: (member: number) => boolean) =>
    w.members
      .flatMap((_, i) => (state.present[i] && include(i) ? Array.from({ length: state.connections[i] }, () => userId(i)) : []))
      .sort((a, b) => a - b);
  const delivered = async (target: Parameters<typeof resolveAudience>[1]) =>
    (await resolveAudience(system.db, target)).map((r) => r.userId).sort((a, b) => a - b);

  const context = { server: { id: serverId, name: 's', owner_id: userId(w.ownerIndex) }, roles };
  for (let c = 0; c < channels.length; c++) {
    // e.g. message_created by the actor: channel audience minus members who blocked the actor.
    expect(await delivered(channelAudience(channels[c], context, actor))).toEqual(
      expected((i) => referenceCanSee(w, state, i, c) && !state.blocksActor[i]),
    );
  }
  // e.g. server_edited: every member, no block filter.
  expect(await delivered(audience.server(serverId))).toEqual(expected(() => true));
  expect(await delivered(audience.server(serverId, { actor }))).toEqual(expected((i) => !state.blocksActor[i]));
}

const CONCURRENCY = 16;

test(`channel and server audiences match the reference over ${CASES} random servers and changes`, async () => {
  // Cases are independent (their own ids), so they run concurrently; a failure names the world to replay.
  const worlds = fc.sample(world, { numRuns: CASES, seed: SEED });
  let next = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < worlds.length && failures.length === 0) {
        const w = worlds[next++];
        try {
          await check(w);
        } catch (error) {
          failures.push(`${(error as Error).message}\nworld: ${JSON.stringify(w)}`);
        }
      }
    }),
  );
  expect(failures).toEqual([]);
  expect(next).toBe(CASES);
}, 600_000);

import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys, padId } from '../../lambdas/domain/table';
import type { SocketClient, TestSystem, TestUser } from './system';

/** Writes a block (blocker blocks blocked) the way the blocks feature stores it. */
export async function block(system: TestSystem, blocker: TestUser, blocked: TestUser): Promise<void> {
  await system.db.doc.send(new PutCommand({ TableName: system.db.table, Item: { ...keys.blockedBy(blocked.id, blocker.id), blockerId: blocker.id } }));
  await system.db.doc.send(
    new PutCommand({ TableName: system.db.table, Item: { pk: `USER#${blocker.id}`, sk: `BLOCKS#${padId(blocked.id)}`, blockedId: blocked.id } }),
  );
}

/**
 * The cast the audience tests assert with: in one server an owner (the actor, with a second connection),
 * a member who should receive, a member kept out of a private channel, a member who blocked the actor;
 * and a user of another server.
 */
export interface Cast {
  serverId: number;
  owner: TestUser;
  member: TestUser;
  excluded: TestUser;
  blocker: TestUser;
  stranger: TestUser;
  sockets: { owner: SocketClient; ownerSecond: SocketClient; member: SocketClient; excluded: SocketClient; blocker: SocketClient; stranger: SocketClient };
}

export async function cast(system: TestSystem): Promise<Cast> {
  const owner = await system.user('Owner');
  const [member, excluded, blocker, stranger] = [await system.user('Member'), await system.user('Excluded'), await system.user('Blocker'), await system.user('Stranger')];
  const serverId = await system.server(owner, [member, excluded, blocker]);
  await system.server(stranger);
  await block(system, blocker, owner);
  // Presence events of these connects are not what these tests are about: connectAll forgets them.
  const [ownerSocket, ownerSecond, memberSocket, excludedSocket, blockerSocket, strangerSocket] = await system.connectAll(
    owner,
    owner,
    member,
    excluded,
    blocker,
    stranger,
  );
  const sockets = {
    owner: ownerSocket,
    ownerSecond,
    member: memberSocket,
    excluded: excludedSocket,
    blocker: blockerSocket,
    stranger: strangerSocket,
  };
  return { serverId, owner, member, excluded, blocker, stranger, sockets };
}

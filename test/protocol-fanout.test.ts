import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { connectionItem, type Recipient, registerConnection, subscribe } from '../lambdas/domain/connections';
import type { DomainEvent } from '../lambdas/domain/events';
import type { ConnectionSender } from '../lambdas/domain/ports';
import { type ProtocolAdapter, ProtocolRegistry } from '../lambdas/protocols/adapter';
import { zavodchat } from '../lambdas/protocols/zavodchat';
import { appContext } from '../lambdas/runtime';
import { TestSystem } from './support/system';

/*
 * Several protocols in one fan-out: the real local runtime and its REST routes publish; a second adapter,
 * registered for this test only, speaks a made-up protocol 'probe' whose connections are items in the table
 * (no gateway holds them: the sender records what is posted to them and hands everything else to the gateway).
 */

let system: TestSystem;
beforeAll(async () => {
  system = await TestSystem.start();
});
afterAll(() => system.stop());

/** Counts renders; addresses channel_created only to scope 'A' (narrowing) and has no channel_deleted (dropped). */
function probeAdapter(renders: string[]): ProtocolAdapter {
  return {
    name: 'probe',
    render(event: DomainEvent, recipients: readonly Recipient[]) {
      renders.push(`probe ${event.type} ${recipients.map((r) => r.connectionId).sort().join(',')}`);
      if (event.type === 'channel_deleted') return [];
      const to = event.type === 'channel_created' ? recipients.filter((r) => r.scope === 'A') : recipients;
      return [{ frame: `probe:${event.type}`, recipients: to }];
    },
  };
}

test('each protocol present renders an event once; each connection gets its own protocol\'s frame; dropped events are not sent', async () => {
  const [alice, bob, carol] = [await system.user('Alice'), await system.user('Bob'), await system.user('Carol')];
  const serverId = await system.server(alice, [bob, carol]);
  const [, bobSocket] = await system.connectAll(alice, bob);

  // Carol's two probe connections, scoped differently, and one of Bob's stored before connections had a
  // protocol (no attribute: ZavodChat). All are subscribed to the server like any connection.
  const probes: Recipient[] = [
    { userId: carol.id, connectionId: 'probe-A', protocol: 'probe', scope: 'A' },
    { userId: carol.id, connectionId: 'probe-B', protocol: 'probe', scope: 'B' },
  ];
  for (const probe of probes) await registerConnection(system.db, probe);
  const legacy = { userId: bob.id, connectionId: 'legacy-1' };
  const { protocol: _omitted, ...legacyItem } = connectionItem(legacy);
  await system.db.doc.send(new PutCommand({ TableName: system.db.table, Item: legacyItem }));
  await subscribe(system.db, [...probes, legacy], [serverId]);

  const context = appContext();
  const renders: string[] = [];
  const countingZavodchat: ProtocolAdapter = {
    ...zavodchat,
    render: (event, recipients) => {
      renders.push(`zavodchat ${event.type} ${recipients.length}`);
      return zavodchat.render(event, recipients);
    },
  };
  const posted = new Map<string, string[]>();
  const realSender = context.sender;
  const recordingSender: ConnectionSender = {
    post: async (connectionId, payload) => {
      if (!/^(probe|legacy)-/.test(connectionId)) return realSender.post(connectionId, payload);
      posted.set(connectionId, [...(posted.get(connectionId) ?? []), payload]);
      return 'sent';
    },
    close: (connectionId) => realSender.close(connectionId),
    exists: (connectionId) => realSender.exists(connectionId),
  };
  const mutable = context as { sender: ConnectionSender; senders: Partial<Record<string, ConnectionSender>>; protocols?: ProtocolRegistry };
  mutable.sender = recordingSender;
  // The probe protocol's connections are reached through a sender of their own (FanoutContext.senders).
  mutable.senders.probe = recordingSender;
  mutable.protocols = new ProtocolRegistry([countingZavodchat, probeAdapter(renders)]);
  try {
    // Each REST call answers once its event is delivered.
    expect((await system.rest('POST', `/servers/${serverId}/channels`, { as: alice, json: { name: 'news', type: 0 } })).status).toBe(200);
    const channelId = (await bobSocket.next('channel_created')).id;
    expect((await system.rest('POST', `/channels/${channelId}/messages`, { as: alice, json: { text: 'hi' } })).status).toBe(200);
    expect((await bobSocket.next('message_created')).text).toBe('hi');
    expect((await system.rest('DELETE', `/channels/${channelId}`, { as: alice })).status).toBe(200);
    await bobSocket.next('channel_deleted');
  } finally {
    mutable.sender = realSender;
    delete mutable.senders.probe;
    delete mutable.protocols;
  }

  // Once per protocol per event: ZavodChat for Alice, Bob and Bob's stored connection; the probe for Carol's two.
  expect(renders).toEqual([
    'zavodchat channel_created 3',
    'probe channel_created probe-A,probe-B',
    'zavodchat message_created 3',
    'probe message_created probe-A,probe-B',
    'zavodchat channel_deleted 3',
    'probe channel_deleted probe-A,probe-B',
  ]);
  // The probe's own frames, narrowed by scope; the dropped channel_deleted reached nobody of that protocol.
  expect(posted.get('probe-A')).toEqual(['probe:channel_created', 'probe:message_created']);
  expect(posted.get('probe-B')).toEqual(['probe:message_created']);
  // A connection item without `protocol` is a ZavodChat connection.
  expect(posted.get('legacy-1')!.map((frame) => JSON.parse(frame).name)).toEqual(['channel_created', 'message_created', 'channel_deleted']);
  // ZavodChat sockets got ZavodChat frames only.
  expect(bobSocket.events).toEqual([]);
}, 90_000);

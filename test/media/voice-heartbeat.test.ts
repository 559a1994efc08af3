/**
 * VOICE_HEARTBEAT_MS (docs/voice.md) is the interval the node renews its users' voice states at: set low
 * here, a user's state is renewed within two seconds of his join, where the default (10 s) would not have
 * beaten yet. The node runs in the local runtime, with its settings from the runtime's `env`.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { TTL_ATTRIBUTE } from '../../lambdas/domain/table';
import { TestSystem } from '../support/system';
import { eventually } from './support/media-node-fixture';
import { describeMedia } from './support/mediasoup-check';
import { WeriftVoicePeer } from './support/werift-peer';

describeMedia('the voice heartbeat setting', {}, () => {
  let system: TestSystem;
  let peer: WeriftVoicePeer | undefined;

  beforeAll(async () => {
    system = await TestSystem.start({ voice: true, env: { VOICE_HEARTBEAT_MS: '1000' } });
  }, 60_000);
  afterAll(async () => {
    await peer?.close().catch(() => undefined);
    await system?.stop();
  });

  test('VOICE_HEARTBEAT_MS=1000 renews a joined user\'s voice state every second', async () => {
    if (!('url' in system.runtime.voice)) throw new Error(`voice is off: ${system.runtime.voice.disabled}`);
    const owner = await system.user();
    const serverId = await system.server(owner);
    const channelId = Number((await system.rest('POST', `/servers/${serverId}/channels`, { as: owner, json: { name: 'voice', type: 1 } })).text);
    const expiry = async () => {
      const { Item } = await system.db.doc.send(new GetCommand({ TableName: system.db.table, Key: { pk: `USER#${owner.id}`, sk: 'VOICE' }, ConsistentRead: true }));
      return Item?.[TTL_ATTRIBUTE] as number | undefined;
    };
    peer = await WeriftVoicePeer.join(system.runtime.voice.url, channelId, { cookie: owner.token });
    await eventually(async () => (await expiry()) !== undefined, 'the voice state of the join');
    const joined = (await expiry())!;
    const renewedBy = Date.now() + 2500;
    // Seconds resolution: one beat a second after the join moves the expiry on by at least a second.
    await eventually(async () => (await expiry())! > joined, 'a heartbeat renewing the voice state', 2500);
    expect(Date.now()).toBeLessThanOrEqual(renewedBy + 100);
  }, 60_000);
});

import { createDb } from '../../lambdas/aws/dynamodb-store';
import { events } from '../../lambdas/domain/events';
import { audience, publish } from '../../lambdas/domain/fanout';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

describe('publish after a stored change', () => {
  test('an unreachable table is logged, not thrown: the change stays answered as done', async () => {
    // A real client against a closed port: the audience cannot be read.
    const db = createDb({ table: 'unreachable', endpoint: 'http://127.0.0.1:1', connectTimeoutMs: 200, requestTimeoutMs: 500 });
    const posted: string[] = [];
    const sender = { post: async (connectionId: string) => (posted.push(connectionId), 'sent' as const), close: async () => {}, exists: async () => true };
    const logged: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((line: string) => void logged.push(line));
    try {
      await expect(publish({ db, sender }, events.userChanged(1, { status: 1 }), audience.observersOf(1))).resolves.toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect(posted).toEqual([]);
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0])).toMatchObject({ level: 'ERROR', message: 'publish user_changed', error: { message: expect.stringMatching(/ECONNREFUSED/) } });
  });
});

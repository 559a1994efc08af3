import type { DynamoDbStore } from '../lambdas/aws/dynamodb-store';
import { DomainError, type ErrorKind } from '../lambdas/domain/errors';
import { restStatus, upgradeStatus } from '../lambdas/http-errors';
import { appContext } from '../lambdas/runtime';
import { TestSystem, type TestUser, UpgradeRefused } from './support/system';

/**
 * The REST/socket pipeline (docs/pipeline.md): one session read per request, the
 * error model's statuses at the edges, and JSON logs that name the request but never its secrets.
 */

let system: TestSystem;
let alice: TestUser;

/** What the handlers send to the table, watched (and optionally failed) inside their own client. */
const watch = {
  sessionReads: new Map<string, number>(),
  /** The next command of this name fails as an unreachable table would. */
  failNext: undefined as string | undefined,
};

function keyPk(input: unknown): string | undefined {
  const pk = (input as { Key?: { pk?: unknown } }).Key?.pk;
  if (typeof pk === 'string') return pk;
  return (pk as { S?: string } | undefined)?.S;
}

beforeAll(async () => {
  system = await TestSystem.start();
  (appContext().db as DynamoDbStore).doc.middlewareStack.add(
    (next, context) => async (args) => {
      const pk = keyPk(args.input);
      if (context.commandName === 'GetItemCommand' && pk?.startsWith('SESSION#')) watch.sessionReads.set(pk, (watch.sessionReads.get(pk) ?? 0) + 1);
      if (watch.failNext !== undefined && context.commandName === watch.failNext) {
        watch.failNext = undefined;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' });
      }
      return next(args);
    },
    { step: 'build', name: 'pipelineTestWatch' },
  );
  alice = await system.user();
});
afterAll(() => system?.stop());

/** A session that no request has used yet. */
async function freshToken(user: TestUser): Promise<string> {
  const login = await system.rest('POST', '/auth', { json: { username: user.username, password: 'password1' } });
  expect(login.status).toBe(200);
  return login.text;
}

describe('authentication', () => {
  test('one REST request reads its session once, for the rate limit and the route together', async () => {
    const token = await freshToken(alice);
    const me = await system.rest('GET', '/users/-1', { headers: { authorization: `Bearer ${token}` } });
    expect(me).toMatchObject({ status: 200, json: { id: alice.id } });
    expect(watch.sessionReads.get(`SESSION#${token}`)).toBe(1);
    // Logout and a profile change end sessions by the token the pipeline read: still one read each.
    const other = await freshToken(alice);
    expect(await system.rest('PUT', '/register', { token: other, form: { displayname: 'Alice' } })).toMatchObject({ status: 200, text: 'Changed' });
    expect(await system.rest('DELETE', '/auth', { token: other })).toMatchObject({ status: 200, text: 'Logged out' });
    expect(watch.sessionReads.get(`SESSION#${other}`)).toBe(2);
    expect(await system.rest('GET', '/users/-1', { token: other })).toMatchObject({ status: 401, text: 'Expired or invalid token' });
  });

  test('a route declared without a caller reads no session, whatever the request carries', async () => {
    const token = await freshToken(alice);
    expect((await system.rest('GET', '/params', { token })).status).toBe(200);
    expect(watch.sessionReads.get(`SESSION#${token}`)).toBeUndefined();
  });

  test('without a usable token the routes answer as before: 400 missing or malformed, 401 unknown', async () => {
    expect(await system.rest('GET', '/users/-1')).toMatchObject({ status: 400, text: 'Invalid token' });
    expect(await system.rest('GET', '/users/-1', { token: 'not-a-uuid' })).toMatchObject({ status: 400, text: 'Invalid token' });
    expect(await system.rest('GET', '/users/-1', { token: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ status: 401, text: 'Expired or invalid token' });
  });
});

describe('error model at the edges', () => {
  const kinds: ErrorKind[] = ['invalid', 'malformed-credentials', 'unauthenticated', 'forbidden', 'not-found', 'unsupported-media-type', 'dependency-unreachable'];

  test('REST keeps each refusal its status; a socket upgrade answers 401 for credential problems only', () => {
    const statuses = kinds.map((kind) => [kind, restStatus(new DomainError(kind, 'x')), upgradeStatus(new DomainError(kind, 'x'))]);
    expect(statuses).toEqual([
      ['invalid', 400, 400],
      ['malformed-credentials', 400, 401],
      ['unauthenticated', 401, 401],
      ['forbidden', 403, 403],
      ['not-found', 404, 404],
      ['unsupported-media-type', 415, 415],
      ['dependency-unreachable', 502, 502],
    ]);
  });

  test('$connect: 401 for a missing, malformed or unknown token, 503 while the table is unreachable', async () => {
    const refusal = async (options: { token?: string }) => {
      const error = await system.connect(undefined, { ...options, welcome: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UpgradeRefused);
      return (error as UpgradeRefused).status;
    };
    expect(await refusal({})).toBe(401);
    expect(await refusal({ token: 'not-a-uuid' })).toBe(401);
    expect(await refusal({ token: '00000000-0000-4000-8000-000000000000' })).toBe(401);
    watch.failNext = 'GetItemCommand';
    expect(await refusal({ token: alice.token })).toBe(503);
  });
});

describe('logs', () => {
  test('a failed request is logged as one JSON record naming request and user, never its token, cookie or password', async () => {
    const token = await freshToken(alice);
    const secrets = [token, 'password1', 'new-password-9'];
    const lines: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      // The session read passes, the rate counter finds the table gone: 503, logged.
      watch.failNext = 'UpdateItemCommand';
      const answer = await system.rest('PUT', `/register?token=${token}`, {
        token,
        headers: { authorization: `Bearer ${token}` },
        form: { password: 'new-password-9', current_password: 'password1' },
      });
      expect(answer).toMatchObject({ status: 503, text: 'Service unavailable' });
    } finally {
      spy.mockRestore();
    }
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'REST request failed',
        service: 'zavodchat-local',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        requestId: expect.any(String),
        userId: alice.id,
        method: 'PUT',
        path: '/register',
        error: expect.objectContaining({ code: 'ECONNREFUSED' }),
      }),
    ]);
    for (const secret of secrets) expect(lines.join('\n')).not.toContain(secret);
  });
});

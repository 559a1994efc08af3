/**
 * Settings are read and checked once, by each process's composition root: a bad value stops the process
 * with the variable named and what it should be, instead of surfacing at the first request that needs it.
 */
import { S3FileStore } from '../../lambdas/aws/s3-file-store';
import { FolderFileStore } from '../../lambdas/adapters/folder-file-store';
import { InMemoryEc2 } from '../../lambdas/adapters/in-memory-ec2';
import { createAppContext } from '../../lambdas/runtime';
import { runtimeSettingsFromEnv, SettingsError } from '../../lambdas/settings';
import { ConfigError, mediaSettingsFromEnv } from '../../media-node/config';

const BASE = { TABLE_NAME: 'zavodchat', WS_MANAGEMENT_ENDPOINT: 'https://abc.execute-api.eu-north-1.amazonaws.com/live' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    runtimeSettingsFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as SettingsError).problems;
  }
  throw new Error('accepted');
}

describe('runtime settings', () => {
  test('the required variables and the defaults', () => {
    const settings = runtimeSettingsFromEnv(BASE);
    expect(settings).toMatchObject({
      table: { name: 'zavodchat', endpoint: undefined },
      managementEndpoint: BASE.WS_MANAGEMENT_ENDPOINT,
      files: { dir: expect.stringContaining('zavodchat-files') },
      mediaControl: { secret: '' },
      connectionOpenedFunction: undefined,
      mediaNode: undefined,
    });
    expect(settings.app.params.max_get_count).toBe(50);
  });

  test('the adapters the settings choose', () => {
    const settings = runtimeSettingsFromEnv({
      ...BASE,
      FILES_BUCKET: 'files',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      MEDIA_CONTROL_SECRET_ARN: 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:control',
      SECRETS_MANAGER_ENDPOINT: 'http://127.0.0.1:4566',
      MEDIA_INSTANCE_ID: 'i-0123456789abcdef0',
      MEDIA_IDLE_MINUTES: '20',
      MEDIA_START_ON: 'voice',
      CONNECTION_OPENED_FUNCTION: 'opened',
    });
    expect(settings).toMatchObject({
      files: { bucket: 'files', endpoint: 'http://127.0.0.1:9000' },
      mediaControl: { secretArn: 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:control', endpoint: 'http://127.0.0.1:4566' },
      mediaNode: { instanceId: 'i-0123456789abcdef0', idleMinutes: 20, startOn: 'voice' },
      connectionOpenedFunction: 'opened',
    });
    expect(createAppContext(settings).files).toBeInstanceOf(S3FileStore);
  });

  test('the composition root builds the local adapters, on the clock it is given', () => {
    const clock = { now: () => 0 };
    const context = createAppContext(runtimeSettingsFromEnv({ ...BASE, FILES_DIR: '/tmp/files', MEDIA_NODE_LIFECYCLE: 'memory' }), { clock });
    expect(context.files).toBeInstanceOf(FolderFileStore);
    expect(context.clock).toBe(clock);
    const ec2 = context.mediaNode!.ec2 as InMemoryEc2;
    expect(ec2).toBeInstanceOf(InMemoryEc2);
    expect(context.mediaNode!.idleMs).toBe(15 * 60_000);
    // Started when a member comes online unless MEDIA_START_ON=voice says a voice join attempt.
    expect(context.mediaNode!.startOn).toBe('online');
    expect(createAppContext(runtimeSettingsFromEnv({ ...BASE, MEDIA_NODE_LIFECYCLE: 'memory', MEDIA_START_ON: 'voice' })).mediaNode!.startOn).toBe('voice');
  });

  test('every problem is named at once, with the value it got', () => {
    expect(
      problemsOf({
        WS_MANAGEMENT_ENDPOINT: 'not a url',
        RATE_LIMIT_REST: 'fast',
        DYNAMODB_REQUEST_TIMEOUT_MS: '-5',
        MEDIA_IDLE_MINUTES: '0',
        MEDIA_NODE_LIFECYCLE: 'ec2',
        MEDIA_START_ON: 'always',
        S3_ENDPOINT: 'somewhere',
        FILES_BUCKET: 'files',
      }),
    ).toEqual([
      "RATE_LIMIT_REST must be <requests>/<seconds> (e.g. 600/60) or off, got 'fast'",
      'TABLE_NAME is not set',
      "DYNAMODB_REQUEST_TIMEOUT_MS must be a positive integer (milliseconds), got '-5'",
      "WS_MANAGEMENT_ENDPOINT must be a URL, got 'not a url'",
      "S3_ENDPOINT must be a URL, got 'somewhere'",
      "MEDIA_IDLE_MINUTES must be a number of minutes, at least 1, got '0'",
      "MEDIA_NODE_LIFECYCLE must be 'memory' or unset, got 'ec2'",
      "MEDIA_START_ON must be online or voice, got 'always'",
    ]);
  });

  test('the message lists the problems, one a line', () => {
    expect(() => runtimeSettingsFromEnv({ ...BASE, MAX_GET_COUNT: 'many', COOKIE_SAMESITE: 'sometimes' })).toThrow(
      "invalid settings:\n  - MAX_GET_COUNT must be a non-negative integer, got 'many'",
    );
    expect(problemsOf({ ...BASE, COOKIE_SAMESITE: 'sometimes' })).toEqual(["COOKIE_SAMESITE must be Lax, Strict, None or auto, got 'sometimes'"]);
  });
});

describe('media node settings', () => {
  test('VOICE_HEARTBEAT_MS: 10 s by default, any value up to half the voice state lifetime', () => {
    expect(mediaSettingsFromEnv({}).heartbeatMs).toBe(10_000);
    expect(mediaSettingsFromEnv({ VOICE_HEARTBEAT_MS: '2500' }).heartbeatMs).toBe(2500);
    expect(mediaSettingsFromEnv({ VOICE_HEARTBEAT_MS: '15000' }).heartbeatMs).toBe(15_000);
  });

  test.each([['60000'], ['999'], ['often']])('VOICE_HEARTBEAT_MS=%s is refused, naming the range', (raw) => {
    expect(() => mediaSettingsFromEnv({ VOICE_HEARTBEAT_MS: raw })).toThrow(ConfigError);
    expect(() => mediaSettingsFromEnv({ VOICE_HEARTBEAT_MS: raw })).toThrow(`VOICE_HEARTBEAT_MS should be an integer from 1000 to 15000, got '${raw}'`);
  });
});

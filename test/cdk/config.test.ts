import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DEFAULT_PARAMS, PAY_PER_USE_MAX_VIDEO_BITRATE } from '../../lambdas/domain/config';
import { configFromContext, DEFAULT_CONFIG, domainNames } from '../../lib/config';
import { paramsEnvironment } from '../../lib/zavodchat-stack';

// No CDK_DEFAULT_REGION: the defaults do not depend on the machine's AWS profile.
const from = (context: Record<string, unknown>) => configFromContext((key) => context[key], {});

describe('configFromContext', () => {
  test('no context gives the defaults, with the ports clients reach on AWS', () => {
    const config = from({});
    expect(config).toEqual({ ...DEFAULT_CONFIG, params: { ...DEFAULT_PARAMS, max_video_bitrate: PAY_PER_USE_MAX_VIDEO_BITRATE, ws_port: 443, ws_vc_port: 443 } });
    // Voice on 443 at the node's own address: 445 (upstream's, and SMB's) is blocked on many networks.
    expect(config.mediaNode.voicePort).toBe(443);
    expect(config.domain).toBeUndefined();
  });

  test('reads CLI strings (-c key=value) and cdk.json values alike', () => {
    const config = from({
      region: 'eu-central-1',
      mediaInstanceType: 'c7g.large',
      rtcPortCount: '4',
      voicePort: 8443,
      clientOrigins: 'https://a.example, https://b.example',
      tableDeletionProtection: 'false',
      logRetentionDays: '14',
      maxVideoBitrate: '2000000',
      params: '{"max_get_count": 20, "max_channels_per_server": 100}',
    });
    expect(config.region).toBe('eu-central-1');
    expect(config.mediaNode).toEqual({ instanceType: 'c7g.large', voicePort: 8443, rtcFirstPort: 40000, rtcPortCount: 4 });
    expect(config.clientOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.tableDeletionProtection).toBe(false);
    expect(config.logRetention).toBe(RetentionDays.TWO_WEEKS);
    expect(config.params).toMatchObject({ max_get_count: 20, max_channels_per_server: 100, max_video_bitrate: 2000000, ws_vc_port: 8443 });
  });

  test('the media node\'s zone and AMI: optional, validated, the zone inside the region', () => {
    expect(from({}).mediaNode).toMatchObject({ availabilityZone: undefined, amiId: undefined });
    expect(from({ region: 'eu-west-1', mediaAvailabilityZone: 'eu-west-1c', mediaAmiId: 'ami-0123456789abcdef0' }).mediaNode).toMatchObject({
      availabilityZone: 'eu-west-1c',
      amiId: 'ami-0123456789abcdef0',
    });
    expect(() => from({ mediaAvailabilityZone: 'eu-west-1c' })).toThrow(/not in the stack's region us-east-1/);
    expect(() => from({ mediaAvailabilityZone: 'use1-az1' })).toThrow(/Availability Zone name/);
    expect(() => from({ mediaAmiId: 'ami-xyz' })).toThrow(/AMI id/);
  });

  test('a custom domain needs exactly one of a hosted zone or a certificate', () => {
    expect(() => from({ domain: 'chat.example.com' })).toThrow(/exactly one/);
    expect(() => from({ domain: 'chat.example.com', hostedZoneId: 'Z1', certificateArn: 'arn:aws:acm:x' })).toThrow(/exactly one/);
    expect(from({ domain: 'Chat.Example.com.', hostedZoneId: 'Z1' }).domain).toEqual({
      parentDomain: 'chat.example.com',
      hostedZone: { id: 'Z1', name: 'chat.example.com' },
    });
    expect(() => from({ domain: 'chat.example.com', hostedZoneId: 'Z1', hostedZoneName: 'other.com' })).toThrow(/does not contain/);
  });

  test('media node on demand: on by default after 15 idle minutes; both settable, the idle time bounded', () => {
    expect(from({})).toMatchObject({ mediaOnDemand: true, mediaIdleMinutes: 15 });
    expect(from({ mediaOnDemand: 'false', mediaIdleMinutes: '30' })).toMatchObject({ mediaOnDemand: false, mediaIdleMinutes: 30 });
    expect(from({ mediaIdleMinutes: 60 }).mediaIdleMinutes).toBe(60);
    // The check runs every minute and a handler trusts "running" for 30 s: one minute would race the cache.
    expect(() => from({ mediaIdleMinutes: 1 })).toThrow(/mediaIdleMinutes/);
    expect(() => from({ mediaIdleMinutes: 'soon' })).toThrow(/mediaIdleMinutes/);
    expect(() => from({ mediaOnDemand: 'yes' })).toThrow(/mediaOnDemand/);
  });

  test('rejects what would deploy something broken', () => {
    expect(() => from({ logRetentionDays: 10 })).toThrow(/retention/);
    expect(() => from({ params: { max_gett_count: 1 } })).toThrow(/unknown key 'max_gett_count'/);
    expect(() => from({ params: { max_get_count: -1 } })).toThrow(/params.max_get_count/);
    expect(() => from({ rtcFirstPort: 65530, rtcPortCount: 10 })).toThrow(/rtcFirstPort/);
    expect(() => from({ socketStageName: 'a/b' })).toThrow(/socketStageName/);
    expect(() => from({ domain: 'not a domain', hostedZoneId: 'Z1' })).toThrow(/DNS name/);
  });

  test('host names, socket URLs and cookie domain of a parent domain', () => {
    expect(domainNames({ parentDomain: 'chat.example.com' })).toEqual({
      rest: 'api.chat.example.com',
      mainSocket: 'ws.chat.example.com',
      voice: 'voice.chat.example.com',
      cookieDomain: 'chat.example.com',
      // The single origin's socket paths, on the main socket's host.
      workspaceSocketUrl: 'wss://ws.chat.example.com/socket.io',
      deskSocketUrl: 'wss://ws.chat.example.com/connect',
    });
  });

  test('GET /params limits become the upper-case variables settingsFromEnv reads', () => {
    expect(paramsEnvironment(DEFAULT_PARAMS)).toMatchObject({ MAX_GET_COUNT: '50', MAX_VIDEO_BITRATE: '10240000', WS_VC_PORT: '445' });
  });
});

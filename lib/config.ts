import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { MEDIA_START_ON, type MediaStartOn } from '../lambdas/domain/media-node-lifecycle';
import { DEFAULT_PARAMS, type DeskOidcSettings, deskOidcFromEnv, PAY_PER_USE_MAX_VIDEO_BITRATE, type Params } from '../lambdas/domain/config';
import { DEFAULT_OFFLINE_GRACE_MS, MAX_OFFLINE_GRACE_MS } from '../lambdas/settings';
import { ORIGIN_PATHS } from './origin-paths';

/**
 * Everything a deployment can choose, in one typed place. Values come from CDK context (`cdk.json`
 * "context", or `cdk deploy -c key=value`); every key is optional and falls back to the default below.
 * docs/deploy.md lists the keys with examples.
 */
export interface DeploymentConfig {
  stackName: string;
  region: string;
  /** The API Gateway stage of the WebSocket APIs (main, workspace, desk); part of their execute-api URLs and management endpoints. */
  socketStageName: string;
  /** Origins of the web client: credentialed CORS of REST and CORS of the files bucket. */
  clientOrigins: string[];
  /** Present when the system is served under a parent domain (see docs/deploy.md, "Custom domain"). */
  domain?: CustomDomainConfig;
  /**
   * A CloudFront distribution that puts the web client, REST (`/api/`) and the main socket (`/socket`) on one
   * host, so the host-only session cookie reaches the socket without a domain (docs/deploy.md, "One origin").
   */
  singleOrigin: boolean;
  /** A web client build uploaded to the single origin's bucket at deploy time (absolute path). */
  clientBuildDir?: string;
  tableDeletionProtection: boolean;
  /** Keep the table and the files bucket when the stack is deleted. */
  retainData: boolean;
  logRetention: RetentionDays;
  /** Stage-wide API Gateway throttling of every API, each on its own: a ceiling on what abuse can cost. */
  throttle: { ratePerSecond: number; burst: number };
  /** API Gateway's account-wide CloudWatch Logs role and the main socket's access logs: see ApiGatewayCloudWatchRole. */
  apiGatewayCloudWatchRole: ApiGatewayCloudWatchRole;
  /** False deploys no voice (no EC2 instance): text-only chat, or emulators without EC2 such as LocalStack. */
  deployMediaNode: boolean;
  mediaNode: MediaNodeConfig;
  /**
   * Pay-per-use voice: the media node is started by the main socket's `$connect` and stopped after
   * `mediaIdleMinutes` with nobody online and nobody in voice (lib/media-node-lifecycle.ts). False: always on.
   */
  mediaOnDemand: boolean;
  /**
   * What starts the on-demand node (lambdas/domain/media-node-lifecycle.ts, MediaStartOn): `online`, the main
   * socket's `$connect`; `voice`, a voice join attempt at the voice wake (lib/voice-wake.ts), which answers
   * `voice.<domain>` while the node is stopped. `voice` needs on-demand, a Route 53 zone and voice on port 443;
   * it is the default wherever those hold (the only way to the $8 reference total, docs/deploy.md).
   */
  mediaStartOn: MediaStartOn;
  mediaIdleMinutes: number;
  /** The limits GET /params reports (and the handlers enforce); defaults are upstream's shipped values. */
  params: Params;
  /** PRESENCE_OFFLINE_GRACE_MS in whole seconds (SQS delays by seconds); 0 announces an offline at once. */
  offlineGraceSeconds: number;
  /**
   * The support desk's sign-in (issue 17): context keys named exactly as the variables the handlers read
   * (DESK_OIDC_ISSUER, ...; see DESK_CONTEXT_KEYS). Unset: the desk is off (its routes answer 404).
   */
  desk?: DeskOidcSettings;
}

/**
 * The desk's settings, read from context under the very names of the local runtime's variables. Not
 * CloudFormation parameters: a parameter's name must be alphanumeric (no `_`), so the names could not be
 * the same; and as context they are checked at synth by the handlers' own parser (deskOidcFromEnv).
 */
export const DESK_CONTEXT_KEYS = ['DESK_OIDC_ISSUER', 'DESK_OIDC_AUDIENCE', 'DESK_ROLES_CLAIM', 'DESK_CURATOR_ROLE', 'DESK_ADMIN_ROLE'] as const;

/**
 * WebSocket stages accept access-log settings only once the region's account-wide API Gateway setting names
 * a CloudWatch Logs role (AWS::ApiGateway::Account), a setting shared by every API of the account:
 * - `none` (default): the stack leaves the account setting alone and the main socket has no access log
 *   (each route's Lambda still logs). Deploys into any account, fresh or not, and changes nothing outside it.
 * - `existing`: the account already has a role (set by another stack, the console or `create` earlier):
 *   the main socket writes access logs through it; the stack still creates nothing account-wide.
 * - `create`: the stack creates a role and sets it as the account's role, replacing any role set before.
 */
export type ApiGatewayCloudWatchRole = 'none' | 'existing' | 'create';
const CLOUDWATCH_ROLE_MODES: readonly ApiGatewayCloudWatchRole[] = ['none', 'existing', 'create'];

export interface CustomDomainConfig {
  /** e.g. `chat.example.com`: REST on api.<parent>, main socket on ws.<parent>, voice on voice.<parent>. */
  parentDomain: string;
  /**
   * A Route 53 public hosted zone that contains the parent domain: the stack then issues the certificate
   * and creates the DNS records itself.
   */
  hostedZone?: { id: string; name: string };
  /** Otherwise: an ACM certificate in the stack's region covering api.<parent> and ws.<parent>. */
  certificateArn?: string;
}

export interface MediaNodeConfig {
  instanceType: string;
  /**
   * The Availability Zone of the node's subnet (e.g. `us-east-1b`). Not every instance type is offered in
   * every zone; unset, the region's first zone as CloudFormation lists them (`Fn::GetAZs`, index 0).
   */
  availabilityZone?: string;
  /**
   * The AMI the node runs (`ami-...`, for the stack's region and the instance type's CPU). Unset, the latest
   * Amazon Linux 2023 AMI is resolved at each deploy, so a new AMI release replaces the node: pin it
   * (docs/deploy.md, "Media node").
   */
  amiId?: string;
  /** TCP port of the voice signalling socket (wss); also what GET /params reports as ws_vc_port. */
  voicePort: number;
  /** mediasoup workers listen on one UDP and one TCP port each, from this port up. */
  rtcFirstPort: number;
  rtcPortCount: number;
}

const HOSTS = { rest: 'api', mainSocket: 'ws', voice: 'voice' } as const;

export const DEFAULT_CONFIG: DeploymentConfig = {
  stackName: 'ZavodChat',
  // The fallback when neither `-c region=` nor the CLI's configured region (CDK_DEFAULT_REGION) is given.
  region: 'us-east-1',
  socketStageName: 'live',
  clientOrigins: ['https://localhost:5173'],
  // Without a domain; with one, the api./ws. hosts and their parent-domain cookie are the layout.
  singleOrigin: true,
  tableDeletionProtection: true,
  retainData: true,
  logRetention: RetentionDays.ONE_MONTH,
  throttle: { ratePerSecond: 500, burst: 1000 },
  apiGatewayCloudWatchRole: 'none',
  deployMediaNode: true,
  // The smallest type that holds the reference community with headroom (docs/voice.md, "Capacity").
  mediaNode: { instanceType: 't4g.micro', voicePort: 443, rtcFirstPort: 40000, rtcPortCount: 10 },
  mediaOnDemand: true,
  // Without a Route 53 zone; with one (and voice on 443) configFromContext picks `voice` (readMediaStartOn).
  mediaStartOn: 'online',
  mediaIdleMinutes: 15,
  params: { ...DEFAULT_PARAMS, max_video_bitrate: PAY_PER_USE_MAX_VIDEO_BITRATE },
  offlineGraceSeconds: DEFAULT_OFFLINE_GRACE_MS / 1000,
};

/** Reads one context key; CLI `-c` values arrive as strings, cdk.json values keep their JSON type. */
export type ContextReader = (key: string) => unknown;

function asString(key: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`context '${key}' must be a non-empty string`);
  return value.trim();
}

function asInteger(key: string, value: unknown, min: number, max: number): number {
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min || number > max) {
    throw new Error(`context '${key}' must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

function asBoolean(key: string, value: unknown): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context '${key}' must be true or false, got ${JSON.stringify(value)}`);
}

/** A list from a JSON array or a comma-separated string. */
function asStringList(key: string, value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items)) throw new Error(`context '${key}' must be a list or a comma-separated string`);
  const list = items.map((item) => asString(key, item));
  if (list.length === 0) throw new Error(`context '${key}' must not be empty`);
  return list;
}

/** An object from cdk.json, or from a JSON string given with `-c`. */
function asRecord(key: string, value: unknown): Record<string, unknown> {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new Error(`context '${key}' must be a JSON object`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`context '${key}' must be a JSON object`);
  return parsed as Record<string, unknown>;
}

function asAvailabilityZone(key: string, value: unknown): string {
  const zone = asString(key, value);
  if (!/^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/.test(zone)) throw new Error(`context '${key}' must be an Availability Zone name such as us-east-1b, got '${zone}'`);
  return zone;
}

function asAmiId(key: string, value: unknown): string {
  const id = asString(key, value);
  if (!/^ami-[0-9a-f]{8}([0-9a-f]{9})?$/.test(id)) throw new Error(`context '${key}' must be an AMI id (ami-...), got '${id}'`);
  return id;
}

function hostName(key: string, value: unknown): string {
  const name = asString(key, value).toLowerCase().replace(/\.$/, '');
  if (!/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/.test(name)) throw new Error(`context '${key}' must be a DNS name, got '${name}'`);
  return name;
}

function readDomain(read: ContextReader): CustomDomainConfig | undefined {
  const parent = read('domain');
  if (parent === undefined) return undefined;
  const parentDomain = hostName('domain', parent);
  const zoneId = read('hostedZoneId');
  const certificateArn = read('certificateArn');
  if ((zoneId === undefined) === (certificateArn === undefined)) {
    throw new Error("context 'domain' needs exactly one of 'hostedZoneId' (the stack manages certificate and DNS) or 'certificateArn'");
  }
  if (zoneId !== undefined) {
    const zoneName = read('hostedZoneName');
    const name = zoneName === undefined ? parentDomain : hostName('hostedZoneName', zoneName);
    if (parentDomain !== name && !parentDomain.endsWith(`.${name}`)) {
      throw new Error(`hosted zone '${name}' does not contain the domain '${parentDomain}'`);
    }
    return { parentDomain, hostedZone: { id: asString('hostedZoneId', zoneId), name } };
  }
  const arn = asString('certificateArn', certificateArn);
  if (!/^arn:aws[a-z-]*:acm:/.test(arn)) throw new Error(`context 'certificateArn' must be an ACM certificate ARN, got '${arn}'`);
  return { parentDomain, certificateArn: arn };
}

/** GET /params limits: `params` is an object of upstream key names (e.g. {"max_get_count": 20}). */
function readParams(read: ContextReader, voicePort: number): Params {
  const params: Params = { ...DEFAULT_CONFIG.params };
  const overrides = read('params');
  if (overrides !== undefined) {
    for (const [name, value] of Object.entries(asRecord('params', overrides))) {
      if (!(name in params)) throw new Error(`context 'params' has an unknown key '${name}'`);
      params[name as keyof Params] = asInteger(`params.${name}`, value, 0, Number.MAX_SAFE_INTEGER);
    }
  }
  const maxVideoBitrate = read('maxVideoBitrate');
  if (maxVideoBitrate !== undefined) params.max_video_bitrate = asInteger('maxVideoBitrate', maxVideoBitrate, 1, 100_000_000);
  // On AWS both sockets are reached on standard TLS ports, whatever upstream's defaults say.
  params.ws_port = 443;
  params.ws_vc_port = voicePort;
  return params;
}

function readRetention(value: unknown): RetentionDays {
  const days = asInteger('logRetentionDays', value, 1, 3653);
  if (!(Object.values(RetentionDays) as unknown[]).includes(days)) {
    throw new Error(`context 'logRetentionDays' must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, ...), got ${days}`);
  }
  return days as RetentionDays;
}

/** `singleOrigin` defaults to on without a domain; with one the cookie's Domain would not fit the CloudFront host. */
function readSingleOrigin(read: ContextReader, domain: CustomDomainConfig | undefined): Pick<DeploymentConfig, 'singleOrigin' | 'clientBuildDir'> {
  const value = read('singleOrigin');
  const singleOrigin = value === undefined ? domain === undefined : asBoolean('singleOrigin', value);
  if (singleOrigin && domain) {
    throw new Error(
      "context 'singleOrigin' cannot be combined with 'domain': the session cookie is issued for the domain and would not be kept by the browser on the CloudFront host",
    );
  }
  const dir = read('clientBuildDir');
  if (dir === undefined) return { singleOrigin };
  if (!singleOrigin) throw new Error("context 'clientBuildDir' needs the single origin (no 'domain', 'singleOrigin' not false): that is where the client is served");
  const clientBuildDir = resolve(asString('clientBuildDir', dir));
  if (!existsSync(join(clientBuildDir, 'index.html'))) throw new Error(`context 'clientBuildDir' must be a folder with an index.html, got '${clientBuildDir}'`);
  return { singleOrigin, clientBuildDir };
}

function readCloudWatchRole(read: ContextReader): ApiGatewayCloudWatchRole {
  const mode = read('apiGatewayCloudWatchRole');
  const legacy = read('manageApiGatewayAccountRole');
  if (mode !== undefined) {
    const value = asString('apiGatewayCloudWatchRole', mode) as ApiGatewayCloudWatchRole;
    if (!CLOUDWATCH_ROLE_MODES.includes(value)) {
      throw new Error(`context 'apiGatewayCloudWatchRole' must be one of ${CLOUDWATCH_ROLE_MODES.join(', ')}, got '${value}'`);
    }
    return value;
  }
  // The earlier boolean key: true had the stack set the role, false meant the account has one already.
  if (legacy !== undefined) return asBoolean('manageApiGatewayAccountRole', legacy) ? 'create' : 'existing';
  return DEFAULT_CONFIG.apiGatewayCloudWatchRole;
}

function readDesk(read: ContextReader): DeskOidcSettings | undefined {
  const env: Record<string, string> = {};
  for (const key of DESK_CONTEXT_KEYS) {
    const value = read(key);
    if (value !== undefined) env[key] = asString(key, value);
  }
  let desk: DeskOidcSettings | undefined;
  try {
    desk = deskOidcFromEnv(env);
  } catch (error) {
    throw new Error(`context: ${(error as Error).message}`);
  }
  if (!desk && Object.keys(env).length > 0) throw new Error(`context '${Object.keys(env)[0]}' needs 'DESK_OIDC_ISSUER' (without it the desk is off)`);
  // On AWS the issuer is reached over the internet: plain http would let anyone on the path swap its keys.
  if (desk && !desk.issuer.startsWith('https://')) throw new Error(`context 'DESK_OIDC_ISSUER' must be an https URL on AWS, got '${desk.issuer}'`);
  return desk;
}

/**
 * `mediaStartOn`. `voice` needs what the wake stands on: a node that stops (on demand), a Route 53 zone
 * (the node parks `voice.<domain>` at the wake's API Gateway domain, an alias only Route 53 can hold) and
 * voice on 443 (API Gateway serves 443 only, and the client has one voice URL). Unset: `voice` where all
 * of that holds, else `online`.
 */
function readMediaStartOn(
  read: ContextReader,
  setup: { deployMediaNode: boolean; mediaOnDemand: boolean; domain: CustomDomainConfig | undefined; voicePort: number },
): MediaStartOn {
  const missing = [
    ...(setup.deployMediaNode ? [] : ["a media node ('deployMediaNode' is false)"]),
    ...(setup.mediaOnDemand ? [] : ["'mediaOnDemand=true'"]),
    ...(setup.domain?.hostedZone ? [] : ["a Route 53 zone ('domain' with 'hostedZoneId')"]),
    ...(setup.voicePort === 443 ? [] : [`'voicePort' 443 (got ${setup.voicePort}; API Gateway serves 443 only)`]),
  ];
  const value = read('mediaStartOn');
  if (value === undefined) return missing.length === 0 ? 'voice' : 'online';
  const mode = asString('mediaStartOn', value) as MediaStartOn;
  if (!MEDIA_START_ON.includes(mode)) throw new Error(`context 'mediaStartOn' must be one of ${MEDIA_START_ON.join(', ')}, got '${mode}'`);
  if (mode === 'voice' && missing.length > 0) {
    throw new Error(`context 'mediaStartOn=voice' (start the media node on a voice join attempt) needs ${missing.join(', ')}; use 'mediaStartOn=online' otherwise`);
  }
  return mode;
}

/** The variables the handlers read (lambdas/domain/config.ts, deskOidcFromEnv), defaults filled in. */
export function deskEnvironment(desk: DeskOidcSettings): Record<(typeof DESK_CONTEXT_KEYS)[number], string> {
  return {
    DESK_OIDC_ISSUER: desk.issuer,
    DESK_OIDC_AUDIENCE: desk.audience,
    DESK_ROLES_CLAIM: desk.rolesClaim,
    DESK_CURATOR_ROLE: desk.curatorRole,
    DESK_ADMIN_ROLE: desk.adminRole,
  };
}

/**
 * The configuration from context; `environment` supplies the CDK CLI's CDK_DEFAULT_REGION (the region of
 * the user's AWS profile), used when the context names no region.
 */
export function configFromContext(read: ContextReader, environment: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  const defaults = DEFAULT_CONFIG;
  const pick = <T>(key: string, parse: (key: string, value: unknown) => T, fallback: T): T => {
    const value = read(key);
    return value === undefined ? fallback : parse(key, value);
  };
  const rtcPortCount = pick('rtcPortCount', (k, v) => asInteger(k, v, 1, 1000), defaults.mediaNode.rtcPortCount);
  const mediaNode: MediaNodeConfig = {
    instanceType: pick('mediaInstanceType', asString, defaults.mediaNode.instanceType),
    availabilityZone: pick<string | undefined>('mediaAvailabilityZone', asAvailabilityZone, undefined),
    amiId: pick<string | undefined>('mediaAmiId', asAmiId, undefined),
    voicePort: pick('voicePort', (k, v) => asInteger(k, v, 1, 65535), defaults.mediaNode.voicePort),
    rtcFirstPort: pick('rtcFirstPort', (k, v) => asInteger(k, v, 1024, 65535 - rtcPortCount + 1), defaults.mediaNode.rtcFirstPort),
    rtcPortCount,
  };
  const region = pick('region', asString, environment.CDK_DEFAULT_REGION || defaults.region);
  if (mediaNode.availabilityZone && !mediaNode.availabilityZone.startsWith(region)) {
    throw new Error(`context 'mediaAvailabilityZone' (${mediaNode.availabilityZone}) is not in the stack's region ${region}`);
  }
  const stageName = pick('socketStageName', asString, defaults.socketStageName);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(stageName)) throw new Error(`context 'socketStageName' must be letters, digits, '-' or '_'`);
  const domain = readDomain(read);
  const deployMediaNode = pick('deployMediaNode', asBoolean, defaults.deployMediaNode);
  const mediaOnDemand = pick('mediaOnDemand', asBoolean, defaults.mediaOnDemand);
  return {
    stackName: pick('stackName', asString, defaults.stackName),
    region,
    socketStageName: stageName,
    clientOrigins: pick('clientOrigins', asStringList, defaults.clientOrigins),
    domain,
    ...readSingleOrigin(read, domain),
    tableDeletionProtection: pick('tableDeletionProtection', asBoolean, defaults.tableDeletionProtection),
    retainData: pick('retainData', asBoolean, defaults.retainData),
    logRetention: pick('logRetentionDays', (_k, v) => readRetention(v), defaults.logRetention),
    throttle: {
      ratePerSecond: pick('throttleRatePerSecond', (k, v) => asInteger(k, v, 1, 100_000), defaults.throttle.ratePerSecond),
      burst: pick('throttleBurst', (k, v) => asInteger(k, v, 1, 100_000), defaults.throttle.burst),
    },
    apiGatewayCloudWatchRole: readCloudWatchRole(read),
    deployMediaNode,
    mediaNode,
    mediaOnDemand,
    mediaStartOn: readMediaStartOn(read, { deployMediaNode, mediaOnDemand, domain, voicePort: mediaNode.voicePort }),
    // At least 2: the check runs every minute and the handlers trust "running" for 30 s.
    mediaIdleMinutes: pick('mediaIdleMinutes', (k, v) => asInteger(k, v, 2, 1440), defaults.mediaIdleMinutes),
    params: readParams(read, mediaNode.voicePort),
    offlineGraceSeconds: pick('offlineGraceSeconds', (k, v) => asInteger(k, v, 0, MAX_OFFLINE_GRACE_MS / 1000), defaults.offlineGraceSeconds),
    desk: readDesk(read),
  };
}

/**
 * Where the workspace and desk sockets are on the main socket's host of a custom domain (`wss://ws.<parent>/<path>`):
 * API mappings with one-level paths, the same names as on the single origin (ORIGIN_PATHS) without their slashes.
 * API Gateway matches a mapping's path exactly, so the clients ask for it without a trailing slash.
 */
export const SOCKET_HOST_PATHS = {
  workspaceSocket: ORIGIN_PATHS.workspaceSocket.replaceAll('/', ''),
  deskSocket: ORIGIN_PATHS.deskSocket.replaceAll('/', ''),
};

/** The host names, socket URLs and cookie domain of a custom-domain deployment. */
export function domainNames(domain: CustomDomainConfig): {
  rest: string;
  mainSocket: string;
  voice: string;
  cookieDomain: string;
  workspaceSocketUrl: string;
  deskSocketUrl: string;
} {
  const mainSocket = `${HOSTS.mainSocket}.${domain.parentDomain}`;
  return {
    rest: `${HOSTS.rest}.${domain.parentDomain}`,
    mainSocket,
    voice: `${HOSTS.voice}.${domain.parentDomain}`,
    cookieDomain: domain.parentDomain,
    workspaceSocketUrl: `wss://${mainSocket}/${SOCKET_HOST_PATHS.workspaceSocket}`,
    deskSocketUrl: `wss://${mainSocket}/${SOCKET_HOST_PATHS.deskSocket}`,
  };
}

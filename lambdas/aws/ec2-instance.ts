import { type Ec2Port, IncorrectInstanceStateError, type InstanceState } from '../domain/media-node-lifecycle';
import { SigV4Signer, type SigningCredentials } from './sigv4';

/** The EC2 Query API version these three actions are documented under. */
const API_VERSION = '2016-11-15';
const TIMEOUT_MS = 5000;
const STATES: readonly InstanceState[] = ['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'];

export class Ec2ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(`EC2 ${code} (HTTP ${status}): ${message}`);
    this.name = 'Ec2ApiError';
  }
}

function stateIn(xml: string, element: 'currentState'): InstanceState {
  const name = new RegExp(`<${element}>[\\s\\S]*?<name>([a-z-]+)</name>`).exec(xml)?.[1] as InstanceState | undefined;
  if (!name || !STATES.includes(name)) throw new Error(`EC2 answered without a <${element}>: ${xml.slice(0, 200)}`);
  return name;
}

const unescape = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

/**
 * Start and stop one EC2 instance through the EC2 Query API (form-encoded POST, XML answer),
 * signed with our own SigV4 signer: three actions do not justify bundling `@aws-sdk/client-ec2` (not a
 * dependency of the project, and not needed by anything else). Credentials come from the caller (the SDK's
 * provider chain of the DynamoDB client, on Lambda the function's role).
 */
export class Ec2InstanceClient implements Ec2Port {
  private readonly endpoint: URL;
  private readonly signer: SigV4Signer;

  constructor(
    readonly instanceId: string,
    private readonly credentials: () => Promise<SigningCredentials>,
    options: { region: string; endpoint?: string },
  ) {
    if (!/^i-[0-9a-f]{8,17}$/.test(instanceId)) throw new Error(`not an EC2 instance id: ${instanceId}`);
    this.endpoint = new URL(options.endpoint ?? `https://ec2.${options.region}.amazonaws.com/`);
    this.signer = new SigV4Signer(options.region, 'ec2');
  }

  async start(): Promise<InstanceState> {
    return stateIn(await this.call('StartInstances'), 'currentState');
  }

  async stop(): Promise<InstanceState> {
    return stateIn(await this.call('StopInstances'), 'currentState');
  }

  private async call(action: string): Promise<string> {
    const body = Buffer.from(new URLSearchParams({ Action: action, Version: API_VERSION, 'InstanceId.1': this.instanceId }).toString());
    const path = this.endpoint.pathname || '/';
    const signed = this.signer.sign({ method: 'POST', host: this.endpoint.host, path, body }, await this.credentials());
    // fetch sets Host from the URL itself (the same value that was signed).
    const { host: _host, ...headers } = signed;
    const response = await fetch(this.endpoint, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await response.text();
    if (response.ok) return text;
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? 'Unknown';
    const message = unescape(/<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? text.slice(0, 200));
    if (code === 'IncorrectInstanceState') throw new IncorrectInstanceStateError(message);
    throw new Ec2ApiError(code, message, response.status);
  }
}

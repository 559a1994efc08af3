import WebSocket from 'ws';

export interface Frame {
  name: string;
  data: unknown;
}

export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: ${status} ${body}`);
  }
}

export interface Credentials {
  token?: string;
  cookie?: string;
  bearer?: string;
}

/** A raw voice-socket client: the frames it got, and a way to wait for the next ones. */
export class VoiceSocket {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const listener of [...this.listeners]) listener();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(baseUrl: string, query: Record<string, string>, credentials: Credentials = {}): Promise<VoiceSocket> {
    const params = new URLSearchParams(query);
    if (credentials.token) params.set('token', credentials.token);
    const headers: Record<string, string> = {};
    if (credentials.cookie) headers.Cookie = `theme=dark; zavodchat_token=${credentials.cookie}`;
    if (credentials.bearer) headers.Authorization = `Bearer ${credentials.bearer}`;
    const ws = new WebSocket(`${baseUrl}/?${params}`, { headers });
    const socket = new VoiceSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(socket));
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => reject(new Refused(response.statusCode ?? 0, body)));
      });
      ws.once('error', reject);
    });
  }

  send(name: string, data?: unknown): void {
    this.ws.send(JSON.stringify(data === undefined ? { name } : { name, data }));
  }

  /** Resolves with the `index`-th (0-based) frame named `name` that matches, waiting for it if needed. */
  waitFor(name: string, match: (data: unknown) => boolean = () => true, index = 0, timeoutMs = 10_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.filter((frame) => frame.name === name && match(frame.data));
        if (found.length <= index) return false;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(found[index].data);
        return true;
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`no '${name}' frame #${index} within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.name))}`));
      }, timeoutMs);
      if (!check()) this.listeners.add(check);
    });
  }

  count(name: string): number {
    return this.frames.filter((frame) => frame.name === name).length;
  }

  close(): void {
    this.ws.close();
  }
}

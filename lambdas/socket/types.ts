import { withLogFields } from '../domain/log';

/** The subset of API Gateway's WebSocket Lambda event the handlers read (same shape from the local gateway). */
export interface WebSocketEvent {
  requestContext: {
    routeKey: string;
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    connectionId: string;
    /** API Gateway's id of this event (absent from the local gateway's events before it named one). */
    requestId?: string;
    domainName: string;
    stage: string;
    requestTimeEpoch: number;
    identity?: { sourceIp?: string; userAgent?: string };
  };
  headers?: Record<string, string | undefined>;
  multiValueHeaders?: Record<string, string[] | undefined>;
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

export function header(event: WebSocketEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** A socket handler whose log records, wherever they are written below it, carry the event's request and connection ids. */
export function logScoped<R>(handle: (event: WebSocketEvent) => Promise<R>): (event: WebSocketEvent) => Promise<R> {
  return (event) => withLogFields({ requestId: event.requestContext.requestId, connectionId: event.requestContext.connectionId }, () => handle(event));
}

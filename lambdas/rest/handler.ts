import type { Context } from 'aws-lambda';
import { handle, type LambdaEvent } from 'hono/aws-lambda';
import { createApp } from './app';

const app = handle(createApp());

/**
 * The REST Lambda behind API Gateway HTTP API (payload format 2.0). A body on GET or HEAD means nothing
 * to any route, and the Fetch API refuses to build such a request: it is dropped, not answered with a 500.
 */
export async function handler(event: LambdaEvent, context: Context) {
  const method = 'http' in (event.requestContext ?? {}) ? (event.requestContext as { http: { method: string } }).http.method : undefined;
  const readOnly = method === 'GET' || method === 'HEAD';
  return app(readOnly ? ({ ...event, body: null, isBase64Encoded: false } as LambdaEvent) : event, context as never);
}

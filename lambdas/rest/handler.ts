import { handle } from 'hono/aws-lambda';
import { createApp } from './app';

/** The REST Lambda behind API Gateway HTTP API (payload format 2.0). */
export const handler = handle(createApp());

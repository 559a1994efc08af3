/**
 * An environment for a media node started without AWS: its DynamoDB calls (the sweeper) fail fast against a
 * closed port, with credentials that need no lookup.
 */
export const OFFLINE_AWS_ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'offline',
  AWS_SECRET_ACCESS_KEY: 'offline',
  DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
  TABLE_NAME: 'offline',
  WS_MANAGEMENT_ENDPOINT: 'https://offline.invalid/live',
};

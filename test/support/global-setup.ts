import { type DynamoDbLocal, randomAccessKeyId, startDynamoDbLocal } from '../../local/dynamodb';

/** One in-memory DynamoDB Local for the whole run; each test file gets its own table in it. */
export default async function globalSetup(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dynamo = await startDynamoDbLocal();
  process.env.TEST_DYNAMODB_ENDPOINT = dynamo.endpoint;
  // Its database is this key's (one per access key id, as in npm start): TestSystem uses it everywhere.
  process.env.TEST_DYNAMODB_ACCESS_KEY_ID = randomAccessKeyId();
  (globalThis as { __dynamoDbLocal?: DynamoDbLocal }).__dynamoDbLocal = dynamo;
}

import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { RATE_KEY_PREFIX, TABLE_DEFINITION } from '../lambdas/domain/table';

/**
 * Item-level actions the handlers and the media node use on the table. TransactWriteItems is not an IAM
 * action (cfn-lint W3037): a transaction is authorized per element, by PutItem, UpdateItem, DeleteItem
 * and, for a ConditionCheck element, ConditionCheckItem.
 */
export const TABLE_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

const stringKey = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

export interface ChatTableProps {
  deletionProtection: boolean;
  retainOnDelete: boolean;
}

/** The single table, built from the definition the handlers and the local runtime share. */
export class ChatTable extends Construct {
  readonly table: dynamodb.Table;
  private readonly indexNames: string[];

  constructor(scope: Construct, id: string, props: ChatTableProps) {
    super(scope, id);
    const definition = TABLE_DEFINITION;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: stringKey(definition.partitionKey),
      sortKey: stringKey(definition.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: definition.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection,
      removalPolicy: props.retainOnDelete ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    for (const index of definition.globalSecondaryIndexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: stringKey(index.partitionKey),
        sortKey: stringKey(index.sortKey),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    this.indexNames = definition.globalSecondaryIndexes.map((index) => index.indexName);
  }

  /** Item reads and writes on the table, Query on the table and each named index: no wildcard ARNs. */
  grantDataAccess(grantee: iam.IGrantable): void {
    const tableArn = this.table.tableArn;
    const indexArns = this.indexNames.map((name) => `${tableArn}/index/${name}`);
    iam.Grant.addToPrincipal({ grantee, actions: TABLE_ITEM_ACTIONS, resourceArns: [tableArn] });
    iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: [tableArn, ...indexArns] });
  }

  /** UpdateItem of rate-limit counters only: the socket handlers read nothing and write nothing else. */
  grantCounterUpdates(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${RATE_KEY_PREFIX}*`] } },
      }),
    );
  }
}

export interface FilesBucketProps {
  clientOrigins: string[];
  retainOnDelete: boolean;
}

/** Uploaded files (avatars, attachments): private, encrypted, TLS only, readable cross-origin by the client. */
export class FilesBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: FilesBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      cors: [
        {
          allowedOrigins: props.clientOrigins,
          // Reads only: uploads go through the REST Lambda, never from the browser to the bucket.
          allowedMethods: [s3.HttpMethods.GET, s3.HttpMethods.HEAD],
          allowedHeaders: ['*'],
          maxAge: Duration.hours(1).toSeconds(),
        },
      ],
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: props.retainOnDelete ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    NagSuppressions.addResourceSuppressions(this.bucket, [
      {
        id: 'AwsSolutions-S1',
        reason: 'Server access logs need a second bucket and cost per request; enable CloudTrail S3 data events when an audit trail is required.',
      },
    ]);
  }

  /** Object reads and writes under the bucket (REST issues and checks uploads). */
  grantObjectAccess(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resourceArns: [this.bucket.arnForObjects('*')],
    });
  }
}

import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ChatFunction } from './lambda-functions';

export interface OfflineGraceProps {
  /** PRESENCE_OFFLINE_GRACE_MS of every function that removes connections; SQS delays by whole seconds. */
  graceMs: number;
  /** The function that runs the check when a message becomes visible (lambdas/schedule/offline-grace.ts). */
  consumer: ChatFunction;
}

/**
 * The offline grace on AWS (docs/data-model.md, "Connections and presence"): a function that removes a
 * user's last connection sends one message with DelaySeconds = the grace; the queue's event source runs the
 * check when it becomes visible. An SQS delay queue rather than EventBridge Scheduler (a schedule per
 * disconnect, created at 50 TPS by default, and a reconnect storm is thousands a second) or the per-minute
 * schedule (up to a minute late, and a scan for pending users). Least privilege: the senders may only
 * SendMessage to this queue, the consumer only what its event source needs.
 */
export class OfflineGrace extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetters: sqs.Queue;
  private readonly graceMs: number;

  constructor(scope: Construct, id: string, props: OfflineGraceProps) {
    super(scope, id);
    this.graceMs = props.graceMs;
    // Checks that failed 5 times (the table unreachable for minutes): kept 14 days to see what happened.
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const timeout = props.consumer.function.timeout ?? Duration.seconds(30);
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's advice for a Lambda event source: six times the function's timeout.
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: 5 },
    });
    // A failed check goes back to the queue alone (partial batch response); checks are idempotent.
    props.consumer.function.addEventSource(new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true }));
  }

  /** Lets a function start the grace: the queue's URL and the grace in its environment, SendMessage on this queue. */
  grantSchedule(fn: ChatFunction): void {
    fn.function.addEnvironment('PRESENCE_OFFLINE_QUEUE_URL', this.queue.queueUrl);
    fn.function.addEnvironment('PRESENCE_OFFLINE_GRACE_MS', String(this.graceMs));
    fn.role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }));
  }
}

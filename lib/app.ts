import { App, type AppProps, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from './config';
import { ZavodChatStack } from './zavodchat-stack';

/** The CDK app: configuration from context, the stack, and cdk-nag's AWS Solutions checks on all of it. */
export function buildApp(props?: AppProps): { app: App; stack: ZavodChatStack } {
  const app = new App(props);
  const config = configFromContext((key) => app.node.tryGetContext(key));
  const stack = new ZavodChatStack(app, config.stackName, { config });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return { app, stack };
}

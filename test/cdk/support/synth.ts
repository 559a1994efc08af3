import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import { buildApp } from '../../../lib/app';
import type { ZavodChatStack } from '../../../lib/zavodchat-stack';

export interface Synthesized {
  stack: ZavodChatStack;
  template: Template;
  assembly: CloudAssembly;
  outdir: string;
}

/** The `"context"` of cdk.json (feature flags and any settings), which the CDK CLI hands to the app. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

/**
 * Synthesizes the real app in-process, as `cdk synth` would, with cdk.json's context (as the CLI passes
 * it) and the given context on top. Docker is made
 * unusable (CDK_DOCKER points at nothing) so any attempt to bundle in a container fails the synth.
 * The output goes to a temporary directory outside the repository, so bundles cannot resolve the
 * repository's node_modules by walking up.
 */
export function synthesize(context: Record<string, unknown> = {}): Synthesized {
  process.env.CDK_DOCKER = '/nonexistent/docker-must-not-be-used';
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zavodchat-cdk-'));
  const { app, stack } = buildApp({ outdir, context: { ...cdkJsonContext(), ...context } });
  const assembly = app.synth();
  return { stack, template: Template.fromStack(stack), assembly, outdir };
}

export function removeOutput(synthesized: Synthesized | undefined): void {
  if (synthesized) fs.rmSync(synthesized.outdir, { recursive: true, force: true });
}

/** The logical id a construct's CloudFormation resource gets in the template. */
export function logicalId(construct: IConstruct): string {
  const resource = construct.node.defaultChild ?? construct;
  return Stack.of(construct).getLogicalId(resource as never);
}

export type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };

export function resourcesOfType(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

export interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of every inline policy (AWS::IAM::Policy) in the template, with its policy's logical id. */
export function policyStatements(template: Template): Array<{ policy: string; roles: string; statement: PolicyStatement }> {
  return Object.entries(resourcesOfType(template, 'AWS::IAM::Policy')).flatMap(([policy, resource]) => {
    const document = resource.Properties.PolicyDocument as { Statement: PolicyStatement[] };
    const roles = JSON.stringify(resource.Properties.Roles);
    return document.Statement.map((statement) => ({ policy, roles, statement }));
  });
}

export function actionsOf(statement: PolicyStatement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: PolicyStatement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/**
 * EC2 user data as the text the instance receives, CloudFormation functions rendered as `${...}`, or by
 * `token` (e.g. a plain word standing for the value CloudFormation fills in, for `bash -n`).
 */
export function userDataText(template: Template, token: (intrinsic: Record<string, unknown>) => string = (o) => `\${${JSON.stringify(o)}}`): string {
  const [instance] = Object.values(resourcesOfType(template, 'AWS::EC2::Instance'));
  const userData = instance.Properties.UserData as { 'Fn::Base64': unknown };
  const render = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const object = value as Record<string, unknown>;
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    return token(object);
  };
  return render(userData['Fn::Base64']);
}

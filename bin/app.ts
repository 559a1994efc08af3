import { buildApp } from '../lib/app';

// The CDK CLI runs this (cdk.json) and the app synthesizes itself into cdk.out when the process ends.
buildApp();

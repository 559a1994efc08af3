import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderApiDoc } from '../lambdas/rest/api-doc';
import { createApp } from '../lambdas/rest/app';
import { upstreamRoutes } from './upstream-routes';

/** `npm run docs:api`: rewrites docs/api.md from the REST app. */
writeFileSync(join(__dirname, '..', 'docs', 'api.md'), renderApiDoc(createApp(), upstreamRoutes()));
console.log('docs/api.md written');

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderApiDoc, routeKey, servedRoutes } from '../lambdas/rest/api-doc';
import { createApp } from '../lambdas/rest/app';
import { upstreamRoutes } from '../local/upstream-routes';

/**
 * Upstream operations we deliberately do not serve (docs/upstream.md, "REST conventions" notes which upstream documents
 * but does not have). Empty: every documented path and method is routed.
 */
const NOT_SERVED = new Set<string>();

describe('the REST surface', () => {
  test('every path and method of upstream\'s OpenAPI file is routed', () => {
    const served = new Set(servedRoutes(createApp()).map(({ method, path }) => routeKey(method, path)));
    const missing = [...upstreamRoutes()].filter((key) => !served.has(key) && !NOT_SERVED.has(key));
    expect(missing).toEqual([]);
    expect(upstreamRoutes().size).toBeGreaterThan(50);
  });

  test('docs/api.md is what the code serves (regenerate with npm run docs:api)', () => {
    const written = readFileSync(join(__dirname, '..', 'docs', 'api.md'), 'utf8');
    expect(written).toBe(renderApiDoc(createApp(), upstreamRoutes()));
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { routeKey } from '../lambdas/rest/api-doc';

/** Upstream's REST description, beside this repository as in the workplace (`../shared/spec`). */
export const UPSTREAM_OPENAPI = process.env.UPSTREAM_OPENAPI ?? join(__dirname, '..', '..', 'shared', 'spec', 'zavodchat-rest.openapi.yaml');

/** Every method + path of upstream's OpenAPI file, as route keys. */
export function upstreamRoutes(file = UPSTREAM_OPENAPI): Set<string> {
  if (!existsSync(file)) throw new Error(`upstream OpenAPI not found at ${file} (set UPSTREAM_OPENAPI)`);
  const spec = load(readFileSync(file, 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  const keys = new Set<string>();
  for (const [path, operations] of Object.entries(spec.paths)) {
    for (const method of Object.keys(operations)) {
      if (['get', 'post', 'put', 'delete'].includes(method)) keys.add(routeKey(method, path));
    }
  }
  return keys;
}

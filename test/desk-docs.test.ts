/**
 * The desk's documents against the code: docs/desk.openapi.yaml has exactly the `/desk/` routes the app
 * serves, and docs/desk.md's events table names every event seam with its seed event.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { servedRoutes } from '../lambdas/rest/api-doc';
import { createApp } from '../lambdas/rest/app';
import { SILENT_DESK_EVENTS } from '../lambdas/domain/desk/events';
import { deskEventData } from '../lambdas/domain/desk/views';

const docs = join(__dirname, '..', 'docs');

describe('desk documents', () => {
  test('docs/desk.openapi.yaml documents exactly the /desk/ routes served', () => {
    const spec = load(readFileSync(join(docs, 'desk.openapi.yaml'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path.replace(/\{f\}/, '{f}')}`));
    const served = servedRoutes(createApp())
      .filter((route) => route.path.startsWith('/desk/'))
      .map((route) => `${route.method} ${route.path}`);
    expect(documented.sort()).toEqual(served.sort());
  });

  test("docs/desk.md's events table names each seed event with its seam", () => {
    const text = readFileSync(join(docs, 'desk.md'), 'utf8');
    const seams = Object.keys(SILENT_DESK_EVENTS);
    const events = Object.keys(deskEventData);
    expect(seams).toHaveLength(8);
    expect(events.sort()).toEqual(['assign_curator', 'delete_message', 'new_chat', 'new_message', 'read_chat_message', 'update_chat_status', 'update_message', 'user_status']);
    for (const event of events) {
      const seam = event.replace(/_([a-z])/g, (_m, letter: string) => letter.toUpperCase());
      expect(seams).toContain(seam);
      expect(text).toMatch(new RegExp(`\\| \`${event}\` \\| \`deskEvents\\.${seam}\` \\|`));
    }
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOMAIN_EVENT_TYPES } from '../lambdas/domain/events';

/** The event names the "Audiences" table of docs/protocol.md documents: backticked names in its first column. */
function documentedEvents(markdown: string): Set<string> {
  const section = markdown.split(/^## Audiences$/m)[1]?.split(/^## /m)[0] ?? '';
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| ')) continue;
    const firstColumn = line.split('|')[1];
    for (const [, name] of firstColumn.matchAll(/`([a-z_]+)`/g)) names.add(name);
  }
  return names;
}

function undocumented(markdown: string): string[] {
  const documented = documentedEvents(markdown);
  return DOMAIN_EVENT_TYPES.filter((type) => !documented.has(type));
}

describe('the event catalog and docs/protocol.md', () => {
  const written = readFileSync(join(__dirname, '..', 'docs', 'protocol.md'), 'utf8');

  test('every event of the catalog (lambdas/domain/events.ts) has a row in the "Audiences" table', () => {
    expect(undocumented(written)).toEqual([]);
    expect(DOMAIN_EVENT_TYPES.length).toBeGreaterThanOrEqual(29);
  });

  test('the check sees an event whose row is missing', () => {
    const withoutKicks = written
      .split('\n')
      .filter((line) => !line.startsWith('| `user_kicked`'))
      .join('\n');
    expect(undocumented(withoutKicks)).toEqual(['user_kicked']);
  });
});

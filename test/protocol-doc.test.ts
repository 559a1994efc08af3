import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOMAIN_EVENT_TYPES } from '../lambdas/domain/events';
import { workspaceEvents } from '../lambdas/protocols/workspace/mapping';

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

describe('the workspace protocol in docs/protocol.md', () => {
  const written = readFileSync(join(__dirname, '..', 'docs', 'protocol.md'), 'utf8');
  const section = written.split(/^## The workspace protocol/m)[1] ?? '';

  test('is a section of the one protocol document, and names every server event the adapter renders', () => {
    expect(section).not.toBe('');
    const state = { mute: 0, deaf: 0, video: 0 };
    const user = { id: 1, name: 'a', status: 1 };
    const names = [
      workspaceEvents.channelCreated(1),
      workspaceEvents.channelDeleted(1),
      workspaceEvents.userJoined(user),
      workspaceEvents.userLeavedWorkspace(1),
      workspaceEvents.userUpdated(user),
      workspaceEvents.onlineStatusUpdated(1, 1),
      workspaceEvents.userSelectedChannel(1, 1, state),
      workspaceEvents.userUnselectedChannel(1, 1),
      workspaceEvents.mediaStateUpdated(1, state),
      workspaceEvents.userChangedDevice(),
    ].map((event) => event.name);
    expect(Object.keys(workspaceEvents)).toHaveLength(names.length);
    expect(names.filter((name) => !section.includes(`\`${name}\``))).toEqual([]);
  });
});

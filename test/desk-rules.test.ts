/**
 * The desk's pure rules: the audience of chat events against a small independent reference (property-based,
 * 1,000 random worlds with sequences of grants, revocations and role changes: zero leaks, zero misses), and
 * the status transitions exhaustively against the table of docs/desk.md.
 */
import fc from 'fast-check';
import { CHAT_STATUSES, chatAudience, type ChatStatus, type DeskActor, judgeTransition, maySeeChat } from '../lambdas/domain/desk/rules';

const CASES = Number(process.env.DESK_AUDIENCE_CASES ?? 1000);
const SEED = Number(process.env.DESK_AUDIENCE_SEED ?? 20261207);
const USERS = 8;
const TOPICS = 3;

type Change = { kind: 'grant' | 'revoke'; user: number; topic: number } | { kind: 'role'; user: number; curator: boolean };

interface World {
  curators: boolean[];
  grants: Array<[number, number]>;
  chats: Array<{ customer: number; topic: number }>;
  changes: Change[];
}

const user = fc.nat(USERS - 1);
const topic = fc.nat(TOPICS - 1);
const world: fc.Arbitrary<World> = fc.record({
  curators: fc.array(fc.boolean(), { minLength: USERS, maxLength: USERS }),
  grants: fc.array(fc.tuple(user, topic), { maxLength: 12 }),
  chats: fc.array(fc.record({ customer: user, topic }), { minLength: 1, maxLength: 4 }),
  changes: fc.array(
    fc.oneof(
      fc.record({ kind: fc.constantFrom('grant' as const, 'revoke' as const), user, topic }),
      fc.record({ kind: fc.constant('role' as const), user, curator: fc.boolean() }),
    ),
    { maxLength: 8 },
  ),
});

/**
 * The reference, written from the words and nothing else: "each to the chat's customer and the
 * curators who may see the chat", a curator seeing the chats of the topics he has access to, while he is one.
 */
function referenceReceives(userId: number, chat: { customer: number; topic: number }, curators: boolean[], grants: Set<string>): boolean {
  if (userId === chat.customer) return true;
  return curators[userId] && grants.has(`${userId}/${chat.topic}`);
}

describe('desk rules', () => {
  test(`chat audience equals the reference in ${CASES} random worlds and change sequences: no leak, no miss`, () => {
    let leaks = 0;
    let misses = 0;
    let checks = 0;
    fc.assert(
      fc.property(world, (w) => {
        const before = leaks + misses;
        const curators = [...w.curators];
        const grants = new Set(w.grants.map(([u, t]) => `${u}/${t}`));
        // An event after the initial state and after every change: access lost or gained counts from the next event on.
        for (let step = 0; step <= w.changes.length; step++) {
          if (step > 0) {
            const change = w.changes[step - 1];
            if (change.kind === 'grant') grants.add(`${change.user}/${change.topic}`);
            if (change.kind === 'revoke') grants.delete(`${change.user}/${change.topic}`);
            if (change.kind === 'role') curators[change.user] = change.curator;
          }
          const curatorSet = new Set(curators.flatMap((isCurator, id) => (isCurator ? [id] : [])));
          for (const chat of w.chats) {
            const granted = [...grants].map((g) => g.split('/').map(Number)).filter(([, t]) => t === chat.topic).map(([u]) => u);
            const audience = chatAudience({ customerId: chat.customer, topicId: chat.topic }, granted, curatorSet);
            for (let id = 0; id < USERS; id++) {
              const expected = referenceReceives(id, chat, curators, grants);
              checks++;
              if (audience.has(id) && !expected) leaks++;
              if (!audience.has(id) && expected) misses++;
              // Whoever receives a chat's events may also read it through REST, and the other way round.
              const sees = maySeeChat({ userId: id, curator: curators[id] }, { customerId: chat.customer, topicId: chat.topic }, grants.has(`${id}/${chat.topic}`));
              if (sees !== expected) return false;
            }
            // Nobody outside the world's users.
            if ([...audience].some((id) => id < 0 || id >= USERS)) leaks++;
          }
        }
        // This case's own findings (the totals also count the shrinking runs of a failure).
        return leaks + misses === before;
      }),
      { numRuns: CASES, seed: SEED },
    );
    expect({ leaks, misses }).toEqual({ leaks: 0, misses: 0 });
    expect(checks).toBeGreaterThan(CASES * USERS);
  });

  test('status transitions: exactly the documented table', () => {
    // docs/desk.md, "Statuses": from -> to: who.
    const documented: Record<string, DeskActor[]> = {
      'new->in_progress': ['curator'],
      'new->closed': ['customer', 'curator'],
      'in_progress->resolved': ['curator'],
      'in_progress->closed': ['curator'],
      'resolved->in_progress': ['customer', 'curator'],
      'resolved->closed': ['customer', 'curator'],
    };
    for (const from of CHAT_STATUSES) {
      for (const to of CHAT_STATUSES) {
        for (const actor of ['customer', 'curator'] as const) {
          for (const hasCurator of [false, true]) {
            const actors = documented[`${from}->${to}`];
            const expected = !actors ? 'not_a_transition' : !actors.includes(actor) ? 'not_your_transition' : to === 'in_progress' && !hasCurator ? 'needs_curator' : 'allowed';
            expect([from, to, actor, hasCurator, judgeTransition(from as ChatStatus, to as ChatStatus, actor, hasCurator)]).toEqual([from, to, actor, hasCurator, expected]);
          }
        }
      }
    }
  });
});

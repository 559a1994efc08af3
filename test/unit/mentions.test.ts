import { MAX_MENTIONS, MENTION_TYPE, parseMentions } from '../../lambdas/domain/messages';

/** Members 5 and 12 of the server; roles 7 and 1 (the default role). */
const isMember = (id: number) => id === 5 || id === 12;
const isRole = (id: number) => id === 7 || id === 1;
const parse = (text: string) => parseMentions(text, isMember, isRole);

describe('mentions (@u<id>, @r<id>, @e) in a server message', () => {
  test('each kind, with the index of its @ and of its last character', () => {
    expect(parse('hi @u5, ask @r7 or @e')).toEqual([
      { type: MENTION_TYPE.USER, begin_i: 3, end_i: 5, id: 5 },
      { type: MENTION_TYPE.ROLE, begin_i: 12, end_i: 14, id: 7 },
      { type: MENTION_TYPE.EVERYONE, begin_i: 19, end_i: 20 },
    ]);
    // end_i is inclusive: the mention is text.slice(begin_i, end_i + 1).
    const text = 'x@u12y';
    const [mention] = parse(text);
    expect(text.slice(mention.begin_i, mention.end_i + 1)).toBe('@u12');
    expect(mention).toEqual({ type: MENTION_TYPE.USER, begin_i: 1, end_i: 4, id: 12 });
  });

  test('a mention needs no spaces around it; the same target twice is two mentions', () => {
    expect(parse('@u5@u5').map((m) => [m.begin_i, m.end_i, m.id])).toEqual([
      [0, 2, 5],
      [3, 5, 5],
    ]);
    expect(parse('@e@e').map((m) => m.type)).toEqual([MENTION_TYPE.EVERYONE, MENTION_TYPE.EVERYONE]);
  });

  test('unknown users and roles are dropped; a user id is not taken for a role id and back', () => {
    expect(parse('@u6 @r8 @u7 @r5')).toEqual([]);
    expect(parse('@u999999999 @r1').map((m) => [m.type, m.id])).toEqual([[MENTION_TYPE.ROLE, 1]]);
    // The callbacks decide with the numeric id: leading zeros name the same user.
    expect(parse('@u005')).toEqual([{ type: MENTION_TYPE.USER, begin_i: 0, end_i: 4, id: 5 }]);
  });

  test('what is not a mention', () => {
    expect(parse('')).toEqual([]);
    expect(parse('no mentions at all')).toEqual([]);
    expect(parse('@ @u @r @x5 @U5 @R7 u5 r7 @-5 @u-5 @r 7')).toEqual([]);
  });

  test('at most MAX_MENTIONS are kept, the first ones; dropped unknowns do not use up the allowance', () => {
    expect(MAX_MENTIONS).toBe(32);
    const many = parse('@e '.repeat(40));
    expect(many).toHaveLength(32);
    expect(many.at(-1)).toEqual({ type: MENTION_TYPE.EVERYONE, begin_i: 31 * 3, end_i: 31 * 3 + 1 });
    const unknownFirst = parse(`${'@u6 '.repeat(40)}@u5`);
    expect(unknownFirst).toEqual([{ type: MENTION_TYPE.USER, begin_i: 160, end_i: 162, id: 5 }]);
  });

  test('the callbacks are asked only about ids of their own kind', () => {
    const asked: string[] = [];
    parseMentions(
      '@u3 @r4 @e',
      (id) => (asked.push(`user ${id}`), false),
      (id) => (asked.push(`role ${id}`), false),
    );
    expect(asked).toEqual(['user 3', 'role 4']);
  });
});

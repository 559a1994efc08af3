import type { Hono } from 'hono';
import { blockedBy, blockedUsersOf, blockUser, MAX_BLOCKED_PER_USER, unblockUser } from '../../domain/blocks';
import { dmPairsOf, listDms, openDm } from '../../domain/dms';
import { events } from '../../domain/events';
import { audience, publish } from '../../domain/fanout';
import { endRelation, MAX_FRIENDS_PER_USER, relatedUsers, requestFriendship } from '../../domain/friends';
import { voiceStatesOf } from '../../domain/voice';
import { appContext } from '../../runtime';
import { parseInteger, pathInt, readArgs, readPage, requireUser, textArg } from '../http';
import type { RestEnv } from '../auth';

/** Friends and friend requests, blocks, and DM channels. */
export function socialRoutes(app: Hono<RestEnv>): void {
  app.get('/friends', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const [friends, pairs] = await Promise.all([relatedUsers(db, userId, 'friends'), dmPairsOf(db, userId)]);
    const voiceChannelOf = new Map(pairs.map((pair) => [pair.otherId, pair.voiceId]));
    return c.json(
      await Promise.all(
        friends.map(async (id) => {
          const voiceChannel = voiceChannelOf.get(id);
          if (voiceChannel === undefined) return { id };
          // Who is in the DM call (unfiltered, as upstream): how a client sees an incoming call at start-up.
          return { id, vc_channel_id: voiceChannel, vc_users: await voiceStatesOf(db, voiceChannel) };
        }),
      ),
    );
  });

  app.get('/friend_requests', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const raw = textArg(await readArgs(c), 'incoming');
    // 0 lists the requests I sent; anything else (and no argument) the requests sent to me.
    const incoming = raw === undefined || parseInteger(raw, 'incoming') !== 0;
    return c.json(await relatedUsers(db, userId, incoming ? 'incoming' : 'outgoing'));
  });

  app.post('/friends/:uid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const otherId = pathInt(c, 'uid');
    const outcome = await requestFriendship(context.db, userId, otherId, MAX_FRIENDS_PER_USER);
    switch (outcome) {
      case 'already friends':
        return c.text('User is already a friend', 202);
      case 'already requested':
        return c.text('Friend request was already sent', 202);
      case 'accepted':
        await publish(context, events.friendship('friend_request_accepted', userId), audience.user(otherId));
        return c.text('Friend request was accepted');
      case 'requested':
        await publish(context, events.friendship('friend_request_received', userId), audience.user(otherId));
        return c.text('Friend request was sent');
    }
  });

  app.delete('/friends/:uid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const otherId = pathInt(c, 'uid');
    const ended = await endRelation(context.db, userId, otherId);
    const [name, text] =
      ended === 'outgoing'
        ? (['friend_request_cancelled', 'Cancelled friend request'] as const)
        : ended === 'incoming'
          ? (['friend_request_denied', 'Denied friend request'] as const)
          : (['friend_removed', 'Removed from friends'] as const);
    await publish(context, events.friendship(name, userId), audience.user(otherId));
    return c.text(text);
  });

  app.get('/blocked_users', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    return c.json(await blockedUsersOf(db, userId));
  });

  app.post('/blocked_users/:uid', async (c) => {
    const context = appContext();
    const userId = await requireUser(c);
    const otherId = pathInt(c, 'uid');
    const result = await blockUser(context.db, userId, otherId, MAX_BLOCKED_PER_USER);
    if (!result) return c.text('User is already blocked', 202);
    if (result.endedRelation) {
      const name = result.endedRelation === 'friends' ? 'friend_removed' : 'friend_request_denied';
      await publish(context, events.friendship(name, userId), audience.user(otherId));
    }
    return c.json(result.blocked);
  });

  app.delete('/blocked_users/:uid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    if (!(await unblockUser(db, userId, pathInt(c, 'uid')))) return c.text('User was not blocked', 202);
    return c.text('User was unblocked');
  });

  app.get('/dms', async (c) => {
    const { db, settings } = appContext();
    const userId = await requireUser(c);
    const page = readPage(await readArgs(c), settings.params.max_get_count);
    return c.json(await listDms(db, userId, page, await blockedBy(db, userId)));
  });

  app.post('/dms/:uid', async (c) => {
    const { db } = appContext();
    const userId = await requireUser(c);
    const pair = await openDm(db, userId, pathInt(c, 'uid'));
    return c.json([pair.textId, pair.voiceId]);
  });
}

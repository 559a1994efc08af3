import type { Hono } from 'hono';
import { badRequest, TEXT } from '../../domain/errors';
import { events } from '../../domain/events';
import { createEmoji, deleteEmoji, emojisOfServer, findEmoji, updateEmoji, validateEmojiName } from '../../domain/emojis';
import { audience, publish } from '../../domain/fanout';
import { fileKeys, storeImage } from '../../domain/files';
import { Perm } from '../../domain/permissions';
import { requireMember, requirePermission } from '../../domain/servers';
import { appContext } from '../../runtime';
import { fileArg, pathInt, readArgs, requireUser, textArg } from '../http';
import type { RestEnv } from '../auth';

/** A server's custom emojis (MANAGE_EMOJIS to change them, also to delete: docs/upstream.md, decision 5). */
export function emojiRoutes(app: Hono<RestEnv>): void {
  app.get('/servers/:sid/emojis', async (c) => {
    const { db } = appContext();
    const serverId = pathInt(c, 'sid');
    await requireMember(db, serverId, await requireUser(c));
    return c.json(await emojisOfServer(db, serverId));
  });

  app.post('/servers/:sid/emojis', async (c) => {
    const context = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(context.db, serverId, await requireUser(c), Perm.MANAGE_EMOJIS);
    const args = await readArgs(c);
    const name = textArg(args, 'name');
    if (name === undefined) throw badRequest("Couldn't parse 'name', got: nothing");
    validateEmojiName(name);
    const file = fileArg(args, 'image');
    if (!file) throw badRequest("Couldn't parse 'image': expected a file");
    const image = await storeImage(context.files, file, fileKeys.emoji);
    const emoji = await createEmoji(context.db, serverId, name, image, context.settings.params.max_emojis_per_server).catch(async (error) => {
      await context.files.delete(fileKeys.emoji(image));
      throw error;
    });
    await publish(context, events.emojiCreated(serverId, emoji), audience.server(serverId));
    return c.text('Created');
  });

  app.put('/servers/:sid/emojis/:eid', async (c) => {
    const context = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(context.db, serverId, await requireUser(c), Perm.MANAGE_EMOJIS);
    const emoji = await findEmoji(context.db, serverId, pathInt(c, 'eid'));
    const args = await readArgs(c);
    const name = textArg(args, 'name');
    if (name !== undefined) validateEmojiName(name);
    const file = fileArg(args, 'image');
    if (name === undefined && file === undefined) return c.text(TEXT.nothingToChange, 202);
    const image = file ? await storeImage(context.files, file, fileKeys.emoji) : undefined;
    const updated = await updateEmoji(context.db, serverId, emoji, { name, image });
    if (image) await context.files.delete(fileKeys.emoji(emoji.image));
    await publish(context, events.emojiChanged(serverId, updated), audience.server(serverId));
    return c.text('Changed');
  });

  app.delete('/servers/:sid/emojis/:eid', async (c) => {
    const context = appContext();
    const serverId = pathInt(c, 'sid');
    await requirePermission(context.db, serverId, await requireUser(c), Perm.MANAGE_EMOJIS);
    const emoji = await findEmoji(context.db, serverId, pathInt(c, 'eid'));
    await deleteEmoji(context.db, serverId, emoji);
    await context.files.delete(fileKeys.emoji(emoji.image));
    await publish(context, events.emojiDeleted(serverId, emoji.id), audience.server(serverId));
    return c.text('Deleted');
  });
}

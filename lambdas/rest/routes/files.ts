import type { Context, Hono } from 'hono';
import { badRequest, notFound, TEXT } from '../../domain/errors';
import { deleteUpload, FILE_NAME, FILE_SECURITY_HEADERS, fileKeys, presentationOf, storeUpload } from '../../domain/files';
import { appContext } from '../../runtime';
import { pathInt, readArgs, requireUser, textArg } from '../http';
import type { RestEnv } from '../auth';

const FILE_NOT_FOUND = TEXT.fileNotFound;

/**
 * Sends a stored file: its bytes locally, a redirect to a short-lived S3 URL on AWS. `missing` is the text of
 * the 404 when the store has no such file (the desk's routes name it their way).
 */
export async function serveFile(c: Context, key: string, missing: string = FILE_NOT_FOUND) {
  const presentation = presentationOf(key);
  const served = await appContext().files.serve(key, presentation);
  if (!served) throw notFound(missing);
  if ('redirect' in served) return c.redirect(served.redirect, 302);
  return c.body(served.bytes as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': presentation.contentType,
    'Content-Disposition': presentation.disposition,
    ...FILE_SECURITY_HEADERS,
    'Cache-Control': 'private, max-age=86400',
  });
}

function fileName(c: Context): string {
  const name = c.req.param('f') ?? '';
  if (!FILE_NAME.test(name)) throw notFound(FILE_NOT_FOUND);
  return name;
}

/** Avatars and emoji images (public) and user uploads (any signed-in user). */
export function fileRoutes(app: Hono<RestEnv>): void {
  app.get('/files/avatar/user/:f', (c) => serveFile(c, fileKeys.userAvatar(fileName(c))));
  app.get('/files/avatar/server/:f', (c) => serveFile(c, fileKeys.serverAvatar(fileName(c))));
  app.get('/files/emoji/:f', (c) => serveFile(c, fileKeys.emoji(fileName(c))));

  app.get('/files/upload/:uid/:f', async (c) => {
    await requireUser(c);
    return serveFile(c, fileKeys.upload(pathInt(c, 'uid'), fileName(c)));
  });

  app.post('/files/upload', async (c) => {
    const { db, files, settings } = appContext();
    const userId = await requireUser(c);
    const args = await readArgs(c);
    const extension = textArg(args, 'ext');
    const file = args.file;
    if (extension === undefined) throw badRequest("Couldn't parse 'ext', got: nothing");
    if (!(file instanceof File)) throw badRequest("Couldn't parse 'file': expected a file");
    return c.text(await storeUpload(db, files, userId, file, extension, settings.params.total_file_storage_size));
  });

  app.delete('/files/upload/:f', async (c) => {
    const { db, files } = appContext();
    const userId = await requireUser(c);
    await deleteUpload(db, files, userId, fileName(c));
    return c.text('Deleted');
  });
}

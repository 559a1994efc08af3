import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { BMP, JPEG, NOT_AN_IMAGE, PNG } from './support/images';
import { TestSystem, type TestUser } from './support/system';

async function upload(system: TestSystem, as: TestUser, method: string, path: string, fields: Record<string, string | Buffer>) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(key, value);
    else form.append(key, new Blob([value]), 'x.bin');
  }
  const response = await fetch(`${system.runtime.restUrl}${path}`, { method, body: form, headers: { cookie: `zavodchat_token=${as.token}` }, redirect: 'manual' });
  return { status: response.status, text: await response.text() };
}

/** Fetches a file the way a browser does: following a redirect to storage when there is one. */
async function download(system: TestSystem, path: string, as?: TestUser) {
  const response = await fetch(`${system.runtime.restUrl}${path}`, { headers: as ? { cookie: `zavodchat_token=${as.token}` } : {} });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), type: response.headers.get('content-type'), redirected: response.redirected };
}

/** The same behaviour must hold with the folder store (local runtime) and the S3 store (AWS). */
function fileBehaviour(name: string, start: () => Promise<{ system: TestSystem; stop: () => Promise<void>; viaRedirect: boolean }>) {
  describe(name, () => {
    let system: TestSystem;
    let stop: () => Promise<void>;
    let viaRedirect: boolean;
    beforeAll(async () => {
      ({ system, stop, viaRedirect } = await start());
    });
    afterAll(() => stop());

    test('user and server avatars: image type from the bytes, served back, announced', async () => {
      const [alice, bob] = [await system.user(), await system.user()];
      const serverId = await system.server(alice, [bob]);
      const watcher = await system.connect(bob);
      expect(await upload(system, alice, 'PUT', '/register', { avatar: NOT_AN_IMAGE })).toMatchObject({ status: 400 });
      expect(await upload(system, alice, 'PUT', '/register', { avatar: PNG })).toMatchObject({ status: 200 });
      const changed = await watcher.next('user_changed', (d) => d.id === alice.id && d.avatar !== undefined);
      expect(changed).toEqual({ id: alice.id, avatar: expect.stringMatching(/^[0-9A-Za-z]{32}\.png$/) });
      expect((await system.rest('GET', `/users/${alice.id}`)).json.avatar).toBe(changed.avatar);
      const served = await download(system, `/files/avatar/user/${changed.avatar}`);
      expect(served).toMatchObject({ status: 200, type: 'image/png', redirected: viaRedirect });
      expect(served.bytes.equals(PNG)).toBe(true);

      expect(await upload(system, alice, 'PUT', `/servers/${serverId}`, { avatar: JPEG })).toMatchObject({ status: 200 });
      const edited = await watcher.next('server_edited');
      expect(edited.avatar).toMatch(/\.jpg$/);
      expect((await download(system, `/files/avatar/server/${edited.avatar}`)).bytes.equals(JPEG)).toBe(true);
      const created = await upload(system, alice, 'POST', '/servers', { name: 'with avatar', avatar: BMP });
      expect(created.status).toBe(200);
      expect((await system.rest('GET', `/servers/${created.text}`, { as: alice })).json.avatar).toMatch(/\.bmp$/);
      expect((await download(system, '/files/avatar/user/nope.png')).status).toBe(404);
      expect((await download(system, '/files/avatar/user/..%2F..%2Fetc%2Fpasswd')).status).toBe(404);
    });

    test('uploads: stored under the uploader, readable by signed-in users only, deletable by the uploader', async () => {
      const [alice, bob] = [await system.user(), await system.user()];
      const name = await upload(system, alice, 'POST', '/files/upload', { ext: 'txt', file: Buffer.from('hello file') });
      expect(name).toMatchObject({ status: 200, text: expect.stringMatching(/^[0-9A-Za-z]{32}\.txt$/) });
      const path = `/files/upload/${alice.id}/${name.text}`;
      const read = await download(system, path, bob);
      expect(read.status).toBe(200);
      expect(read.bytes.toString()).toBe('hello file');
      expect((await download(system, path)).status).toBe(400);
      expect(await upload(system, alice, 'POST', '/files/upload', { ext: 'a/b', file: Buffer.from('x') })).toMatchObject({ status: 400 });
      expect(await upload(system, alice, 'POST', '/files/upload', { ext: 'txt', file: 'not a file' })).toMatchObject({ status: 400 });
      expect(await system.rest('DELETE', `/files/upload/${name.text}`, { as: bob })).toMatchObject({ status: 404 });
      expect(await system.rest('DELETE', `/files/upload/${name.text}`, { as: alice })).toMatchObject({ status: 200 });
      expect((await download(system, path, bob)).status).toBe(404);
    });

    test('uploads are served so no browser renders them as a page: attachment for non-images, the stored type, nosniff and a CSP where we answer', async () => {
      const alice = await system.user();
      const html = Buffer.from('<!doctype html><script>fetch("/users/-1")</script>');
      const headersOf = async (ext: string, bytes: Buffer) => {
        const name = (await upload(system, alice, 'POST', '/files/upload', { ext, file: bytes })).text;
        const response = await fetch(`${system.runtime.restUrl}/files/upload/${alice.id}/${name}`, { headers: { cookie: `zavodchat_token=${alice.token}` } });
        await response.arrayBuffer();
        return { name, headers: response.headers };
      };
      for (const ext of ['html', 'svg', 'txt']) {
        const { name, headers } = await headersOf(ext, html);
        expect({ ext, disposition: headers.get('content-disposition') }).toEqual({ ext, disposition: `attachment; filename="${name}"` });
        expect(headers.get('content-type')).toMatch(ext === 'txt' ? /^text\/plain/ : /^application\/octet-stream/);
      }
      const { headers } = await headersOf('png', PNG);
      expect(headers.get('content-disposition')).toBe('inline');
      expect(headers.get('content-type')).toBe('image/png');
      // S3 cannot add arbitrary headers to a presigned answer (docs/security.md, "Uploaded files"); we can.
      if (!viaRedirect) {
        expect(headers.get('x-content-type-options')).toBe('nosniff');
        expect(headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
      }
    });

    test('emojis: created, changed and deleted with their events; names and permissions checked', async () => {
      const [owner, member, stranger] = [await system.user(), await system.user(), await system.user()];
      const serverId = await system.server(owner, [member]);
      await system.server(stranger);
      const memberSocket = await system.connect(member);
      const strangerSocket = await system.connect(stranger);
      const post = (as: TestUser, fields: Record<string, string | Buffer>) => upload(system, as, 'POST', `/servers/${serverId}/emojis`, fields);
      expect(await post(member, { name: 'cat', image: PNG })).toMatchObject({ status: 403, text: 'No permission' });
      expect(await post(owner, { name: 'bad name', image: PNG })).toMatchObject({ status: 400 });
      expect(await post(owner, { name: 'a:b', image: PNG })).toMatchObject({ status: 400 });
      expect(await post(owner, { name: 'cat', image: NOT_AN_IMAGE })).toMatchObject({ status: 400 });
      expect(await post(owner, { name: 'cat' })).toMatchObject({ status: 400 });
      expect(await post(owner, { name: 'cat', image: PNG })).toMatchObject({ status: 200, text: 'Created' });
      const created = await memberSocket.next('emoji_created');
      expect(created).toEqual({ id: expect.any(Number), name: 'cat', image: expect.stringMatching(/\.png$/), server_id: serverId });
      expect(await post(owner, { name: 'cat', image: PNG })).toMatchObject({ status: 403 });
      expect((await system.rest('GET', `/servers/${serverId}/emojis`, { as: member })).json).toEqual([{ id: created.id, name: 'cat', image: created.image }]);
      expect((await download(system, `/files/emoji/${created.image}`)).bytes.equals(PNG)).toBe(true);

      expect(await upload(system, owner, 'PUT', `/servers/${serverId}/emojis/${created.id}`, { name: 'kitty' })).toMatchObject({ status: 200 });
      expect(await memberSocket.next('emoji_changed')).toEqual({ id: created.id, name: 'kitty', image: created.image, server_id: serverId });
      expect(await system.rest('DELETE', `/servers/${serverId}/emojis/${created.id}`, { as: member })).toMatchObject({ status: 403 });
      expect(await system.rest('DELETE', `/servers/${serverId}/emojis/999999`, { as: owner })).toMatchObject({ status: 404 });
      expect(await system.rest('DELETE', `/servers/${serverId}/emojis/${created.id}`, { as: owner })).toMatchObject({ status: 200 });
      expect(await memberSocket.next('emoji_deleted')).toEqual({ id: created.id, server_id: serverId });
      expect((await download(system, `/files/emoji/${created.image}`)).status).toBe(404);
      await strangerSocket.expectNothing();
      expect(await post(owner, { name: 'cat', image: PNG })).toMatchObject({ status: 200 });
    });
  });
}

fileBehaviour('files in a folder (local runtime)', async () => {
  const system = await TestSystem.start();
  return { system, stop: () => system.stop(), viaRedirect: false };
});

fileBehaviour('files in S3 (an S3-compatible server), served by presigned redirects', async () => {
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: mkdtempSync(join(tmpdir(), 's3-')) });
  const { port } = (await s3.run()) as unknown as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await admin.send(new CreateBucketCommand({ Bucket: 'zavodchat-files' }));
  admin.destroy();
  const names = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
  const saved = names.map((name) => process.env[name]);
  // s3rver accepts only its own credentials, which the S3 client finds where the SDK looks on AWS.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  // The runtime's Lambdas find the bucket as on AWS.
  const system = await TestSystem.start({ env: { FILES_BUCKET: 'zavodchat-files', S3_ENDPOINT: endpoint } });
  return {
    system,
    viaRedirect: true,
    stop: async () => {
      await system.stop();
      await s3.close();
      names.forEach((name, i) => {
        if (saved[i] === undefined) delete process.env[name];
        else process.env[name] = saved[i];
      });
    },
  };
});

describe('upload quota: total storage divided by the number of users', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await TestSystem.start({ env: { TOTAL_FILE_STORAGE_SIZE: '40' } });
  });
  afterAll(async () => {
    await system.stop();
  });

  test('the oldest uploads make room; a file above the quota is refused', async () => {
    const [alice, bob] = [await system.user(), await system.user()];
    // 40 bytes over 2 users: 20 bytes each.
    const first = await upload(system, alice, 'POST', '/files/upload', { ext: 'txt', file: Buffer.alloc(12, 1) });
    const second = await upload(system, alice, 'POST', '/files/upload', { ext: 'txt', file: Buffer.alloc(8, 2) });
    expect((await download(system, `/files/upload/${alice.id}/${first.text}`, bob)).status).toBe(200);
    const third = await upload(system, alice, 'POST', '/files/upload', { ext: 'txt', file: Buffer.alloc(10, 3) });
    expect(third.status).toBe(200);
    expect((await download(system, `/files/upload/${alice.id}/${first.text}`, bob)).status).toBe(404);
    expect((await download(system, `/files/upload/${alice.id}/${second.text}`, bob)).status).toBe(200);
    expect(await upload(system, alice, 'POST', '/files/upload', { ext: 'txt', file: Buffer.alloc(21) })).toMatchObject({ status: 403 });
  });
});

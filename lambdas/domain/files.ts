import { randomInt } from 'node:crypto';
import { type Db, queryPrefix } from './db';
import { keys, partitions, prefixes } from './table';
import { build } from './items';
import { badRequest, forbidden, notFound, TEXT } from './errors';
import type { FileStore } from './ports';

/** Lambda takes at most 6 MB of request payload, base64 included: uploads above 4 MB are refused. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

export type ImageType = 'png' | 'jpg' | 'bmp';

/** The image type from the file's first bytes (PNG, JPEG with an E0/E1/EE marker, BMP); never the name. */
export function detectImage(bytes: Uint8Array): ImageType | undefined {
  const starts = (...signature: number[]) => signature.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0xff, 0xd8, 0xff) && [0xe0, 0xe1, 0xee].includes(bytes[3])) return 'jpg';
  if (starts(0x42, 0x4d) && bytes.length >= 26) return 'bmp';
  return undefined;
}

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** 32 random alphanumerics and the extension, as upstream names stored files. */
export function generateFileName(extension: string): string {
  let name = '';
  for (let i = 0; i < 32; i++) name += ALPHABET[randomInt(ALPHABET.length)];
  return `${name}.${extension}`;
}

export const FILE_NAME = /^[0-9A-Za-z]{1,64}\.[0-9A-Za-z]{1,10}$/;

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', bmp: 'image/bmp', gif: 'image/gif', webp: 'image/webp', txt: 'text/plain' };

export function contentTypeOf(fileName: string): string {
  return CONTENT_TYPES[fileName.split('.').pop()!.toLowerCase()] ?? 'application/octet-stream';
}

/**
 * How a stored file is handed to browsers (docs/security.md, "Uploaded files"): its type from the extension
 * it was stored under, never from its bytes; images the client shows inline, everything else as a download,
 * so an uploaded HTML or SVG file never renders as a page.
 */
export interface FilePresentation {
  contentType: string;
  disposition: string;
}

const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/bmp', 'image/gif', 'image/webp']);

export function presentationOf(key: string): FilePresentation {
  const name = key.split('/').pop()!;
  const contentType = contentTypeOf(name);
  // Names are generated ([0-9A-Za-z]+.ext, FILE_NAME), so they need no quoting beyond the quotes.
  return { contentType, disposition: INLINE_TYPES.has(contentType) ? 'inline' : `attachment; filename="${name}"` };
}

/** Headers of every file response we send ourselves: no sniffing into a scriptable type, and no script or plugin even then. */
export const FILE_SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; sandbox",
} as const;

export const fileKeys = {
  userAvatar: (name: string) => `avatar/user/${name}`,
  serverAvatar: (name: string) => `avatar/server/${name}`,
  emoji: (name: string) => `emoji/${name}`,
  upload: (userId: number, name: string) => `upload/${userId}/${name}`,
};

/** Validates an image upload (avatar, emoji) and stores it under a fresh name; returns the name. */
export async function storeImage(store: FileStore, file: File, keyOf: (name: string) => string): Promise<string> {
  if (file.size > MAX_FILE_BYTES) throw forbidden(`File is larger than ${MAX_FILE_BYTES} bytes`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const type = detectImage(bytes);
  if (!type) throw badRequest('Unsupported image format: expected PNG, JPEG or BMP');
  const name = generateFileName(type);
  await store.put(keyOf(name), bytes, contentTypeOf(name));
  return name;
}

interface UploadRecord {
  name: string;
  size: number;
  sk: string;
}

/**
 * Per-user quota as upstream: the total storage divided by the number of users. To make room, the
 * uploader's oldest files are deleted.
 */
export async function storeUpload(db: Db, store: FileStore, userId: number, file: File, extension: string, totalStorage: number): Promise<string> {
  if (!/^[0-9A-Za-z]{1,10}$/.test(extension)) throw badRequest("Couldn't parse 'ext': expected 1 to 10 letters or digits");
  if (file.size > MAX_FILE_BYTES) throw forbidden(`File is larger than ${MAX_FILE_BYTES} bytes`);
  const counter = await db.get(keys.counter('user'));
  const quota = Math.floor(totalStorage / Math.max(1, Number(counter?.value ?? 1)));
  if (file.size > quota) throw forbidden(`File is larger than your storage quota of ${quota} bytes`);
  const uploads: UploadRecord[] = (await queryPrefix(db, partitions.user(userId), prefixes.upload)).map((item) => ({
    name: String(item.name),
    size: Number(item.size),
    sk: String(item.sk),
  }));
  let used = uploads.reduce((sum, u) => sum + u.size, 0);
  for (const oldest of uploads) {
    if (used + file.size <= quota) break;
    await removeUpload(db, store, userId, oldest);
    used -= oldest.size;
  }
  const name = generateFileName(extension);
  await store.put(fileKeys.upload(userId, name), new Uint8Array(await file.arrayBuffer()), contentTypeOf(name));
  // The sort key starts with the upload time so a Query lists the oldest first.
  await db.put(build.upload(userId, Date.now(), name, file.size));
  return name;
}

async function removeUpload(db: Db, store: FileStore, userId: number, upload: UploadRecord): Promise<void> {
  await store.delete(fileKeys.upload(userId, upload.name));
  await db.delete({ pk: partitions.user(userId), sk: upload.sk });
}

export async function deleteUpload(db: Db, store: FileStore, userId: number, name: string): Promise<void> {
  const uploads = await queryPrefix(db, partitions.user(userId), prefixes.upload);
  const upload = uploads.find((item) => item.name === name);
  if (!upload) throw notFound(TEXT.fileNotFound);
  await removeUpload(db, store, userId, { name, size: Number(upload.size), sk: String(upload.sk) });
}

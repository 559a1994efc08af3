import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FilePresentation } from '../domain/files';
import type { FileStore } from '../domain/ports';

/** Presigned download links live this long: long enough to load, too short to share. */
const DOWNLOAD_URL_SECONDS = 300;

/** Files in an S3 bucket; browsers fetch them from S3 through short-lived presigned URLs. */
export class S3FileStore implements FileStore {
  private readonly client: S3Client;

  constructor(
    private readonly bucket: string,
    options: { endpoint?: string; region?: string } = {},
  ) {
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.endpoint !== undefined,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: contentType }));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /**
   * S3 answers a presigned GET with the `response-content-type` and `response-content-disposition` signed into
   * the URL. It cannot add `nosniff` or a CSP (that needs CloudFront): docs/security.md says why that is tolerable.
   */
  async serve(key: string, presentation: FilePresentation): Promise<{ redirect: string }> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: presentation.contentType,
      ResponseContentDisposition: presentation.disposition,
    });
    const redirect = await getSignedUrl(this.client, command, { expiresIn: DOWNLOAD_URL_SECONDS });
    return { redirect };
  }
}

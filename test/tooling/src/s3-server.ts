/**
 * An S3-protocol test endpoint: `s3rver` (the S3 REST protocol served from a folder) on a free
 * port, with a temporary folder of its own, that can be stopped and started again on the same
 * port and folder to play an outage. s3rver lacks two calls that clean-up code depends on,
 * AbortMultipartUpload and ListMultipartUploads; they are added here on top of its upload
 * folders. TEST TOOLING ONLY: requests are accepted with any SigV4 signature from its one
 * account (`S3RVER` / `S3RVER`), nothing is encrypted, and lifecycle rules are not applied.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';
import { freePort } from './processes';

/** Where s3rver keeps a bucket's unfinished multipart uploads (one folder per upload id). */
const UPLOADS_FOLDER = '._S3rver_uploads';

export interface S3TestServer {
  /** `http://127.0.0.1:PORT`, for the SDK's `endpoint` (path-style addressing). */
  readonly endpoint: string;
  readonly port: number;
  /** The folder s3rver serves from; kept across stop() and start(). */
  readonly directory: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Requests seen, by S3 operation as far as the method and query tell (`UploadPart`, …). */
  readonly counts: Record<string, number>;
  /** Multipart uploads begun and neither completed nor aborted. */
  pendingUploads(bucket: string): Promise<{ key: string; uploadId: string }[]>;
  /** An outage: stops listening and drops every open connection mid-request. */
  stop(): Promise<void>;
  /** Back on the same port, with the same folder. */
  start(): Promise<void>;
  /** Stops, and removes the folder unless it was given. */
  close(): Promise<void>;
}

/**
 * Starts an S3 endpoint with the given buckets created, its objects in `directory` when given
 * (kept after close: what `quittance stack` stores survives a restart), else in a temporary
 * folder removed on close.
 */
export async function startS3Server(
  options: {
    buckets?: string[];
    port?: number;
    directory?: string;
    /** s3rver as it is, without the two calls added here (as `npx s3rver` runs it). */
    plain?: boolean;
  } = {},
): Promise<S3TestServer> {
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'quittance-s3-')));
  if (options.directory) await mkdir(directory, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freePort());
  const s3rver = new S3rver({
    directory,
    silent: true,
    configureBuckets: (options.buckets ?? ['quittance']).map((name) => ({ name })),
  });
  await s3rver.configureBuckets();
  const s3rverHandler: (req: IncomingMessage, res: ServerResponse) => void = s3rver.callback();
  const counts: Record<string, number> = {};

  async function pendingUploads(bucket: string) {
    const folder = join(directory, bucket, UPLOADS_FOLDER);
    const ids = await readdir(folder).catch(() => [] as string[]);
    const uploads = await Promise.all(
      ids.map(async (uploadId) => {
        const key = await readFile(join(folder, uploadId, 'key'), 'utf8').catch(() => null);
        const { birthtime } = await stat(join(folder, uploadId));
        return key === null ? null : { key, uploadId, initiated: birthtime };
      }),
    );
    return uploads.filter((u) => u !== null);
  }

  /** The two calls s3rver lacks; anything else goes to s3rver. */
  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://s3.test');
    const [, bucket = '', ...keyParts] = url.pathname.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const operation = operationOf(req.method ?? 'GET', url.searchParams, key);
    counts[operation] = (counts[operation] ?? 0) + 1;
    if (options.plain) return s3rverHandler(req, res);
    if (operation === 'AbortMultipartUpload') {
      const uploadId = url.searchParams.get('uploadId') ?? '';
      const folder = join(directory, bucket, UPLOADS_FOLDER, uploadId);
      const known = /^[0-9a-f]+$/.test(uploadId) && (await stat(folder).catch(() => null));
      if (!known) return sendXml(res, 404, errorXml('NoSuchUpload', uploadId));
      await rm(folder, { recursive: true, force: true });
      res.writeHead(204).end();
      return;
    }
    if (operation === 'ListMultipartUploads') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const uploads = (await pendingUploads(bucket)).filter((u) => u.key.startsWith(prefix));
      return sendXml(res, 200, listUploadsXml(bucket, prefix, uploads));
    }
    s3rverHandler(req, res);
  }

  let server: Server | null = null;
  const start = async () => {
    if (server) return;
    const listening = createServer((req, res) => {
      handle(req, res).catch((error: Error) => {
        if (!res.headersSent) sendXml(res, 500, errorXml('InternalError', error.message));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => resolve());
    });
    server = listening;
  };
  const stop = async () => {
    const running = server;
    if (!running) return;
    server = null;
    const closed = new Promise<void>((resolve) => running.close(() => resolve()));
    running.closeAllConnections();
    await closed;
  };
  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    counts,
    pendingUploads: async (bucket) =>
      (await pendingUploads(bucket)).map(({ key, uploadId }) => ({ key, uploadId })),
    stop,
    start,
    async close() {
      await stop();
      if (!options.directory) await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The S3 operation a request is, from its method, key and query (enough for counting). */
function operationOf(method: string, query: URLSearchParams, key: string): string {
  const has = (name: string) => query.has(name);
  switch (method) {
    case 'PUT':
      return has('uploadId') ? 'UploadPart' : key ? 'PutObject' : 'CreateBucket';
    case 'POST':
      if (has('uploads')) return 'CreateMultipartUpload';
      if (has('uploadId')) return 'CompleteMultipartUpload';
      return has('delete') ? 'DeleteObjects' : 'Post';
    case 'DELETE':
      return has('uploadId') ? 'AbortMultipartUpload' : key ? 'DeleteObject' : 'DeleteBucket';
    case 'HEAD':
      return key ? 'HeadObject' : 'HeadBucket';
    default:
      if (!key && has('uploads')) return 'ListMultipartUploads';
      return key ? 'GetObject' : 'ListObjects';
  }
}

function sendXml(res: ServerResponse, status: number, body: string) {
  res.writeHead(status, { 'content-type': 'application/xml' }).end(body);
}

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
}

function listUploadsXml(
  bucket: string,
  prefix: string,
  uploads: { key: string; uploadId: string; initiated: Date }[],
): string {
  const items = uploads
    .map(
      (u) =>
        `<Upload><Key>${escapeXml(u.key)}</Key><UploadId>${u.uploadId}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${escapeXml(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`;
}

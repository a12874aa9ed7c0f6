import { PassThrough, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BundleStoreError } from './errors';
import { toStoreError } from './s3-errors';
import type { BundleWrite } from './store';

/**
 * One bundle streamed into S3 with lib-storage's Upload: parts go out as the producer writes
 * (at most `queueSize` of `partSize` in memory), and the request that makes the object
 * visible, CompleteMultipartUpload (or PutObject for a bundle smaller than a part), waits for
 * commit(). abort() refuses that request and aborts the multipart upload.
 */
export function startS3Write(options: {
  client: S3Client;
  /** The bundle key, for messages. */
  key: string;
  /** Bucket, object key and headers; the body is the write's stream. */
  params: Omit<PutObjectCommandInput, 'Body'> & { Bucket: string; Key: string };
  partSize: number;
  queueSize: number;
}): BundleWrite {
  const { client, key, params } = options;
  // The producer writes `stream`; lib-storage reads `feed`. Two streams, because when a part
  // fails lib-storage destroys what it reads with a bare AbortError: the producer should
  // rather stop on this store's coded error, once the upload has settled.
  const stream = new PassThrough();
  let bytes = 0;
  const feed = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  stream.pipe(feed);
  // A producer that fails destroys `stream`; the upload must then fail too, not wait.
  stream.once('close', () => {
    if (!stream.writableFinished) feed.destroy();
  });

  let openGate!: () => void;
  let shutGate!: (reason: Error) => void;
  const gate = new Promise<void>((resolve, reject) => {
    openGate = resolve;
    shutGate = reject;
  });
  gate.catch(() => {});
  const upload = new Upload({
    client: gatedClient(client, gate),
    params: { ...params, Body: feed },
    partSize: options.partSize,
    queueSize: options.queueSize,
    // Aborted below, after the upload settled, rather than inside lib-storage.
    leavePartsOnError: true,
  });
  const uploaded = upload.done().then(
    () => null,
    (error: unknown) => {
      const failure = toStoreError(error, `upload ${params.Key}`);
      // Stop the producer: nothing reads what it writes any more.
      stream.destroy(failure);
      return failure;
    },
  );

  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    stream,
    async commit() {
      if (state !== 'open')
        throw new BundleStoreError('write_incomplete', `bundle ${key} was already ${state}`);
      if (!stream.writableFinished)
        throw stream.errored instanceof BundleStoreError
          ? stream.errored
          : new BundleStoreError('write_incomplete', `bundle ${key}: the stream has not ended`, {
              cause: stream.errored,
            });
      openGate();
      const failure = await uploaded;
      if (failure) throw failure;
      state = 'committed';
      return { key, bytes, lastModified: new Date() };
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      shutGate(new BundleStoreError('write_incomplete', `bundle ${key} was aborted`));
      stream.destroy();
      await uploaded;
      if (!upload.uploadId) return;
      // Best effort: an unreachable store keeps the parts until a sweep or the lifecycle rule.
      await client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: params.Bucket,
            Key: params.Key,
            UploadId: upload.uploadId,
          }),
        )
        .catch(() => {});
    },
  };
}

/**
 * The shared client, except that the two requests that make an object visible wait for the
 * gate: the parts stream out as the bundle is written, the object appears only at commit.
 */
function gatedClient(client: S3Client, gate: Promise<void>): S3Client {
  const gated: S3Client = Object.create(client);
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  gated.send = (async (command: unknown) => {
    if (command instanceof CompleteMultipartUploadCommand || command instanceof PutObjectCommand)
      await gate;
    return send(command);
  }) as S3Client['send'];
  return gated;
}

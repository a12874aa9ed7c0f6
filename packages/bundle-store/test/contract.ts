import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { until } from '@quittance/test-tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BundleStore } from '../src';
import { digestOf, put, randomContent, rejection, sha256 } from './helpers';

export interface StoreUnderTest {
  store: BundleStore;
  /** What unfinished writes left behind: temporary files, or multipart uploads. */
  leftovers(): Promise<number>;
  close(): Promise<void>;
}

/**
 * What every BundleStore promises, run against each implementation: the same assertions for
 * the data folder and for S3, so the API can take either.
 */
export function describeBundleStore(name: string, setup: () => Promise<StoreUnderTest>) {
  describe(`${name}: the BundleStore contract`, () => {
    let under: StoreUnderTest;
    let store: BundleStore;
    // Each test writes under its own prefix.
    const fresh = () => `EU/mch_${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      under = await setup();
      store = under.store;
    });
    afterAll(async () => {
      await under.close();
    });

    it('round-trips a bundle streamed in chunks, byte for byte, with its size', async () => {
      const key = `${fresh()}/exp_1.zip`;
      const content = randomContent(11 * 1024 * 1024 + 3, 64 * 1024);
      const write = await store.create(key);
      await pipeline(content.stream(), write.stream);
      const info = await write.commit();
      expect(info).toMatchObject({ key, bytes: 11 * 1024 * 1024 + 3 });
      expect((await store.stat(key))?.bytes).toBe(11 * 1024 * 1024 + 3);
      const download = await store.open(key);
      expect(download.bytes).toBe(11 * 1024 * 1024 + 3);
      expect(await digestOf(download.stream)).toEqual({
        sha256: content.sha256(),
        bytes: 11 * 1024 * 1024 + 3,
      });
    });

    it('shows nothing at the key until commit, small or large', async () => {
      for (const bytes of [1_000, 12 * 1024 * 1024]) {
        const key = `${fresh()}/exp_${bytes}.zip`;
        const data = randomBytes(bytes);
        const write = await store.create(key);
        await pipeline(Readable.from([data]), write.stream);
        expect(await store.stat(key)).toBeNull();
        expect(await store.exists(key)).toBe(false);
        expect((await rejection(store.open(key))).code).toBe('not_found');
        await write.commit();
        expect(await store.exists(key)).toBe(true);
        expect(sha256(Buffer.concat(await (await store.open(key)).stream.toArray()))).toBe(
          sha256(data),
        );
      }
    });

    it('keeps the previous bundle at the key until the new one commits', async () => {
      const key = `${fresh()}/exp_1.zip`;
      const first = randomBytes(2_000);
      await put(store, key, first);
      const write = await store.create(key);
      await pipeline(Readable.from([randomBytes(3_000)]), write.stream);
      expect((await store.stat(key))?.bytes).toBe(2_000);
      await write.abort();
      expect(sha256(Buffer.concat(await (await store.open(key)).stream.toArray()))).toBe(
        sha256(first),
      );
    });

    it('abort in the middle of a write leaves neither a bundle nor leftovers', async () => {
      const key = `${fresh()}/exp_1.zip`;
      const write = await store.create(key);
      // 7 MiB in: past the first multipart part, and a partial local file.
      for (let i = 0; i < 7; i++) {
        if (!write.stream.write(randomBytes(1024 * 1024)))
          await new Promise((resolve) => write.stream.once('drain', resolve));
      }
      await write.abort();
      expect(await store.exists(key)).toBe(false);
      expect(await under.leftovers()).toBe(0);
      expect((await rejection(write.commit())).code).toBe('write_incomplete');
    });

    it('refuses to commit a stream that has not ended or that failed', async () => {
      const key = `${fresh()}/exp_1.zip`;
      const early = await store.create(key);
      early.stream.write(randomBytes(1_000));
      expect((await rejection(early.commit())).code).toBe('write_incomplete');
      await early.abort();

      const failing = await store.create(key);
      async function* producer() {
        yield randomBytes(1_000);
        throw new Error('the database went away');
      }
      await expect(pipeline(Readable.from(producer()), failing.stream)).rejects.toThrow(
        'the database went away',
      );
      expect((await rejection(failing.commit())).code).toBe('write_incomplete');
      await failing.abort();
      expect(await store.exists(key)).toBe(false);
      expect(await under.leftovers()).toBe(0);
    });

    it('answers not_found for a missing bundle, and deletes idempotently', async () => {
      const key = `${fresh()}/exp_missing.zip`;
      expect((await rejection(store.open(key))).code).toBe('not_found');
      expect((await rejection(store.downloadUrl(key))).code).toBe('not_found');
      expect(await store.stat(key)).toBeNull();
      await store.delete(key);
      await put(store, key, randomBytes(10));
      await store.delete(key);
      expect(await store.exists(key)).toBe(false);
    });

    it('an interrupted download leaves the stored bundle as it was', async () => {
      const key = `${fresh()}/exp_1.zip`;
      const data = randomBytes(6 * 1024 * 1024);
      await put(store, key, data);
      const download = await store.open(key);
      let read = 0;
      for await (const chunk of download.stream) {
        read += (chunk as Buffer).length;
        if (read > 1024 * 1024) break; // leaving the loop destroys the stream mid-way
      }
      expect(read).toBeLessThan(data.length);
      await until(async () => download.stream.destroyed);
      const again = await store.open(key);
      expect(await digestOf(again.stream)).toEqual({ sha256: sha256(data), bytes: data.length });
      expect((await store.stat(key))?.bytes).toBe(data.length);
    });

    it('lists bundles by prefix, without unfinished writes', async () => {
      const prefix = fresh();
      await put(store, `${prefix}/exp_a.zip`, randomBytes(5));
      await put(store, `${prefix}/exp_b.zip`, randomBytes(7));
      await put(store, `${prefix}x/exp_c.zip`, randomBytes(9));
      const pending = await store.create(`${prefix}/exp_d.zip`);
      await pipeline(Readable.from([randomBytes(11)]), pending.stream);
      const listed = [];
      for await (const info of store.list(`${prefix}/`)) listed.push([info.key, info.bytes]);
      expect(listed.sort()).toEqual([
        [`${prefix}/exp_a.zip`, 5],
        [`${prefix}/exp_b.zip`, 7],
      ]);
      await pending.abort();
    });

    it('sweeps what a writer that died left behind, and only what is old enough', async () => {
      const key = `${fresh()}/exp_1.zip`;
      const abandoned = await store.create(key);
      for (let i = 0; i < 6; i++) abandoned.stream.write(randomBytes(1024 * 1024));
      // Once the first part (S3) or the bytes (local) reached the store, the writer "dies".
      await until(async () => (await under.leftovers()) === 1, 20_000);
      expect(await store.sweepIncomplete(new Date(Date.now() - 60_000))).toBe(0);
      expect(await store.sweepIncomplete(new Date(Date.now() + 60_000))).toBe(1);
      expect(await under.leftovers()).toBe(0);
      expect(await store.exists(key)).toBe(false);
      abandoned.stream.destroy();
    });

    it('refuses keys that could escape the store or collide with its temporary files', async () => {
      for (const key of ['', '../x.zip', 'a/../b.zip', '.hidden.zip', 'a//b.zip', 'a/b/']) {
        expect((await rejection(store.create(key))).code).toBe('invalid_key');
        expect((await rejection(store.open(key))).code).toBe('invalid_key');
      }
    });
  });
}

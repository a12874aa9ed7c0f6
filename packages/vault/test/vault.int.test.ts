import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '@quittance/signer';
import { startKmsServer } from '@quittance/test-tooling';
import { describe, expect, it } from 'vitest';
import {
  bodyAad,
  type DataKeyStore,
  KmsKeyWrapper,
  LocalKeyWrapper,
  open,
  type StoredDataKey,
  seal,
  Vault,
} from '../src';

/** A plain in-process implementation of the store interface (the API tests use PostgreSQL). */
function memoryStore(): DataKeyStore & { keys: StoredDataKey[] } {
  const keys: StoredDataKey[] = [];
  return {
    keys,
    async findByMonth(merchantId, month) {
      return keys.find((k) => k.merchantId === merchantId && k.month === month);
    },
    async findById(id) {
      return keys.find((k) => k.id === id);
    },
    async insertIfAbsent(key) {
      const existing = keys.find((k) => k.merchantId === key.merchantId && k.month === key.month);
      if (existing) return existing;
      keys.push(key);
      return key;
    },
  };
}

const text = (s: string) => new TextEncoder().encode(s);

describe('AES-256-GCM sealing', () => {
  const key = new Uint8Array(32).fill(9);
  it('uses a fresh 96-bit IV each time, so equal bodies encrypt differently', () => {
    const a = seal(key, text('{"a":1}'), bodyAad('acme', 'r1', 'input'));
    const b = seal(key, text('{"a":1}'), bodyAad('acme', 'r1', 'input'));
    expect(a.iv.length).toBe(12);
    expect(Buffer.from(a.iv).equals(Buffer.from(b.iv))).toBe(false);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
  });

  it('fails when merchant, receipt or body kind in the AAD differ', () => {
    const sealed = seal(key, text('secret'), bodyAad('acme', 'r1', 'input'));
    expect(new TextDecoder().decode(open(key, sealed, bodyAad('acme', 'r1', 'input')))).toBe(
      'secret',
    );
    for (const aad of [
      bodyAad('globex', 'r1', 'input'),
      bodyAad('acme', 'r2', 'input'),
      bodyAad('acme', 'r1', 'output'),
    ]) {
      expect(() => open(key, sealed, aad)).toThrow(
        expect.objectContaining({ code: 'decrypt_failed' }),
      );
    }
    const flipped = {
      ...sealed,
      ciphertext: sealed.ciphertext.map((v, i) => (i === 0 ? v ^ 1 : v)),
    };
    expect(() => open(key, flipped, bodyAad('acme', 'r1', 'input'))).toThrow();
  });
});

describe('key wrappers', () => {
  it('local: creates a 0600 key file once and unwraps only with the same context', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-vault-'));
    const path = join(dir, 'vault.key');
    const [a, b] = await Promise.all([
      LocalKeyWrapper.fromFile(path),
      LocalKeyWrapper.fromFile(path),
    ]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const { plaintext, wrapped } = await a.generateDataKey({
      merchantId: 'acme',
      month: '2026-11',
    });
    expect(await b.unwrap(wrapped, { merchantId: 'acme', month: '2026-11' })).toEqual(plaintext);
    await expect(b.unwrap(wrapped, { merchantId: 'acme', month: '2026-12' })).rejects.toMatchObject(
      {
        code: 'unwrap_failed',
      },
    );
  });

  it('kms: GenerateDataKey and Decrypt with the encryption context, through the real SDK', async () => {
    const kms = await startKmsServer();
    try {
      const client = await createKmsClient({
        endpoint: kms.url,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' },
      });
      const created = await client.send(new CreateKeyCommand({}));
      const wrapper = new KmsKeyWrapper(client, created.KeyMetadata?.Arn as string);
      const { plaintext, wrapped } = await wrapper.generateDataKey({
        merchantId: 'acme',
        month: '2026-11',
      });
      expect(plaintext.length).toBe(32);
      expect(await wrapper.unwrap(wrapped, { merchantId: 'acme', month: '2026-11' })).toEqual(
        plaintext,
      );
      await expect(
        wrapper.unwrap(wrapped, { merchantId: 'evil', month: '2026-11' }),
      ).rejects.toMatchObject({
        code: 'unwrap_failed',
      });
      expect(kms.counts.GenerateDataKey).toBe(1);
      expect(kms.counts.Decrypt).toBe(2);
    } finally {
      await kms.close();
    }
  });
});

describe('Vault', () => {
  it('keeps one data key per merchant and month, wraps it once however many bodies race', async () => {
    const store = memoryStore();
    const vault = new Vault({
      wrapper: LocalKeyWrapper.fromKey(new Uint8Array(32).fill(1)),
      store,
    });
    const at = new Date('2026-11-20T10:00:00Z');
    const sealed = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        vault.encrypt({
          merchantId: 'acme',
          receiptId: `r${i}`,
          kind: 'input',
          plaintext: text(`b${i}`),
          at,
        }),
      ),
    );
    expect(store.keys.length).toBe(1);
    expect(new Set(sealed.map((s) => s.vaultKeyId)).size).toBe(1);
    await vault.encrypt({
      merchantId: 'acme',
      receiptId: 'x',
      kind: 'input',
      plaintext: text('x'),
      at: new Date('2026-12-01T00:00:00Z'),
    });
    expect(store.keys.map((k) => k.month)).toEqual(['2026-11', '2026-12']);
  });

  it('refuses to decrypt once the month key is destroyed, even for a fresh process', async () => {
    const store = memoryStore();
    const wrapper = LocalKeyWrapper.fromKey(new Uint8Array(32).fill(2));
    const vault = new Vault({ wrapper, store });
    const sealed = await vault.encrypt({
      merchantId: 'acme',
      receiptId: 'r1',
      kind: 'output',
      plaintext: text('{"ok":true}'),
      at: new Date('2020-01-15T00:00:00Z'),
    });
    const input = { merchantId: 'acme', receiptId: 'r1', kind: 'output' as const, ...sealed };
    expect(new TextDecoder().decode(await vault.decrypt(input))).toBe('{"ok":true}');
    (store.keys[0] as StoredDataKey).wrapped = null;
    vault.forget('acme', '2020-01');
    await expect(vault.decrypt(input)).rejects.toMatchObject({ code: 'key_destroyed' });
    await expect(new Vault({ wrapper, store }).decrypt(input)).rejects.toMatchObject({
      code: 'key_destroyed',
    });
    await expect(vault.decrypt({ ...input, merchantId: 'globex' })).rejects.toMatchObject({
      code: 'decrypt_failed',
    });
  });
});

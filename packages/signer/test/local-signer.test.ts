import { mkdtemp, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, fromBase64url, toHex } from '@quittance/format';
import { compactVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { LocalSigner, SignerError } from '../src';

const hexToB64url = (hex: string) => base64url(Uint8Array.from(Buffer.from(hex, 'hex')));

describe('LocalSigner against published test vectors', () => {
  it('RFC 8032 §7.1 TEST 1: empty message', async () => {
    const signer = LocalSigner.fromPrivateJwk(
      {
        kty: 'OKP',
        crv: 'Ed25519',
        d: hexToB64url('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
        x: hexToB64url('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
      },
      'rfc8032-1',
    );
    expect(toHex(await signer.sign(new Uint8Array()))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('RFC 8032 §7.1 TEST 2: one-byte message', async () => {
    const signer = LocalSigner.fromPrivateJwk(
      {
        kty: 'OKP',
        crv: 'Ed25519',
        d: hexToB64url('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'),
        x: hexToB64url('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
      },
      'rfc8032-2',
    );
    expect(toHex(await signer.sign(Uint8Array.of(0x72)))).toBe(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
  });

  const rfc8037 = {
    kty: 'OKP',
    crv: 'Ed25519',
    d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
    x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
  };
  const rfc8037Jws =
    'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg';

  it('RFC 8037 Appendix A: the key signs the A.4 JWS, and jose verifies it', async () => {
    const signer = LocalSigner.fromPrivateJwk(rfc8037, 'rfc8037');
    expect((await signer.publicJwk()).x).toBe(rfc8037.x);
    const [header, payload, signature] = rfc8037Jws.split('.') as [string, string, string];
    const produced = await signer.sign(new TextEncoder().encode(`${header}.${payload}`));
    expect(base64url(produced)).toBe(signature);
    const verified = await compactVerify(
      rfc8037Jws,
      await importJWK({ kty: 'OKP', crv: 'Ed25519', x: rfc8037.x }, 'EdDSA'),
    );
    expect(new TextDecoder().decode(verified.payload)).toBe('Example of Ed25519 signing');
  });

  it('refuses a private JWK whose x does not belong to d', () => {
    expect(() =>
      LocalSigner.fromPrivateJwk({ ...rfc8037, x: hexToB64url('00'.repeat(32)) }, 'k'),
    ).toThrow(expect.objectContaining({ code: 'invalid_key' }));
  });
});

describe('LocalSigner key files', () => {
  it('saves with mode 0600 and loads the same key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-signer-'));
    const path = join(dir, 'keys', 'acme-2026Q4.jwk');
    const signer = LocalSigner.generate('acme-2026Q4');
    await signer.save(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const loaded = await LocalSigner.load(path);
    expect(loaded.kid).toBe('acme-2026Q4');
    expect(await loaded.publicJwk()).toEqual(await signer.publicJwk());
    expect(JSON.parse(await readFile(path, 'utf8')).d).toBeTypeOf('string');
  });

  it('reports an unreadable key file as key_file', async () => {
    await expect(LocalSigner.load('/nonexistent/key.jwk')).rejects.toMatchObject({
      code: 'key_file',
    });
  });

  it('comes back from its 32-byte seed: RFC 8032 TEST 1 key, same public key and signature', async () => {
    const seed = Buffer.from(
      '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      'hex',
    );
    const signer = LocalSigner.fromSeed(new Uint8Array(seed), 'rfc8032-1');
    expect((await signer.publicJwk()).x).toBe(
      hexToB64url('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
    );
    expect(toHex(await signer.sign(new Uint8Array()))).toMatch(/^e5564300c360ac72/);
    expect(Buffer.from(signer.privateSeed()).equals(seed)).toBe(true);
    const generated = LocalSigner.generate('g');
    const again = LocalSigner.fromSeed(generated.privateSeed(), 'g');
    expect(await again.publicJwk()).toEqual(await generated.publicJwk());
    expect(() => LocalSigner.fromSeed(new Uint8Array(31), 'short')).toThrow(SignerError);
  });

  it('refuses a message over 4096 bytes before signing', async () => {
    const signer = LocalSigner.generate('k');
    await expect(signer.sign(new Uint8Array(4097))).rejects.toBeInstanceOf(SignerError);
    await expect(signer.sign(new Uint8Array(4097))).rejects.toMatchObject({
      code: 'message_too_large',
    });
    expect(fromBase64url(base64url(await signer.sign(new Uint8Array(4096)))).length).toBe(64);
  });
});

describe('LocalSigner.sweepTemporaries', () => {
  it('removes the temporary files of saves a killed process left, older than the cut-off only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quittance-keys-'));
    await LocalSigner.generate('kept').save(join(dir, 'kept.jwk'));
    const leftover = join(dir, 'acme-2026Q4.jwk.4242.0b7e.tmp');
    const underWay = join(dir, 'acme-2026Q4-1.jwk.4243.9c1d.tmp');
    await writeFile(leftover, '{"d":"private"}');
    await writeFile(underWay, '{"d":"private"}');
    const dayAgo = new Date(Date.now() - 25 * 3600_000);
    await utimes(leftover, dayAgo, dayAgo);
    const cutOff = new Date(Date.now() - 24 * 3600_000);
    expect(await LocalSigner.sweepTemporaries(dir, cutOff)).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['acme-2026Q4-1.jwk.4243.9c1d.tmp', 'kept.jwk']);
    expect(await LocalSigner.sweepTemporaries(join(dir, 'absent'), cutOff)).toBe(0);
  });
});

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
} from 'node:crypto';
import {
  chmod,
  link,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MAX_SIGNING_INPUT_BYTES } from '@quittance/format';
import { signEd25519, toOkpJwk } from './ed25519';
import { SignerError } from './errors';
import { assertSignableMessage, assertSignatureLength, type Signer } from './signer';

/** PKCS #8 DER of an Ed25519 private key (RFC 8410), up to the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The suffix of a key file being written (renamed or linked into place, then removed). */
const TEMPORARY_SUFFIX = '.tmp';

/** Private JWK as stored on disk. */
interface StoredKey {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d: string;
  kid: string;
}

/**
 * An Ed25519 key held in this process, persisted as a private JWK file (mode 0600).
 * The development default; production keys live in KMS ({@link KmsSigner}).
 */
export class LocalSigner implements Signer {
  readonly #privateKey: KeyObject;

  /**
   * `maxMessageBytes` is the AWS KMS limit (4096), so that development behaves as production;
   * documents of any size are signed through digest statements (SPEC §2.1).
   */
  private constructor(
    readonly kid: string,
    privateKey: KeyObject,
    readonly maxMessageBytes: number = MAX_SIGNING_INPUT_BYTES,
  ) {
    this.#privateKey = privateKey;
  }

  static generate(kid: string): LocalSigner {
    return new LocalSigner(kid, generateKeyPairSync('ed25519').privateKey);
  }

  /** From an RFC 8037 private JWK (`kty` OKP, `crv` Ed25519, `d`, `x`). */
  static fromPrivateJwk(
    jwk: { kty: string; crv: string; d: string; x: string },
    kid: string,
  ): LocalSigner {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') {
      throw new SignerError('invalid_key', 'expected an OKP Ed25519 private JWK');
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({
        key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x },
        format: 'jwk',
      });
    } catch (cause) {
      throw new SignerError('invalid_key', 'private JWK does not load', { cause });
    }
    const derived = toOkpJwk(createPublicKey(key)).x;
    if (derived !== jwk.x) throw new SignerError('invalid_key', 'private JWK x does not match d');
    return new LocalSigner(kid, key);
  }

  /**
   * From the 32-byte private seed (RFC 8032 §5.1.5), as {@link privateSeed} gives it: how a
   * key wrapped in the database comes back.
   */
  static fromSeed(seed: Uint8Array, kid: string): LocalSigner {
    if (seed.length !== 32)
      throw new SignerError('invalid_key', `an Ed25519 seed is 32 bytes, not ${seed.length}`);
    return new LocalSigner(
      kid,
      createPrivateKey({
        key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8',
      }),
    );
  }

  /** Reads a key file written by {@link LocalSigner.save}. */
  static async load(path: string): Promise<LocalSigner> {
    let stored: StoredKey;
    try {
      stored = JSON.parse(await readFile(path, 'utf8')) as StoredKey;
    } catch (cause) {
      throw new SignerError('key_file', `cannot read signing key file ${path}`, { cause });
    }
    return LocalSigner.fromPrivateJwk(stored, stored.kid);
  }

  /** The private seed, to be wrapped before it is stored anywhere (never logged). */
  privateSeed(): Uint8Array {
    const d = this.#privateKey.export({ format: 'jwk' }).d as string;
    return new Uint8Array(Buffer.from(d, 'base64url'));
  }

  /** The same key under another kid. */
  withKid(kid: string): LocalSigner {
    return new LocalSigner(kid, this.#privateKey, this.maxMessageBytes);
  }

  /**
   * Writes the private JWK atomically, readable by the owner only. With `exclusive`, fails
   * with EEXIST when the file exists, so that of racing processes exactly one key wins.
   */
  async save(path: string, options: { exclusive?: boolean } = {}): Promise<void> {
    const jwk = this.#privateKey.export({ format: 'jwk' });
    const stored: StoredKey = {
      kty: 'OKP',
      crv: 'Ed25519',
      x: jwk.x as string,
      d: jwk.d as string,
      kid: this.kid,
    };
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Unique per call: two saves in one millisecond of one process once shared a name (EEXIST).
    const temporary = `${path}.${process.pid}.${randomUUID()}${TEMPORARY_SUFFIX}`;
    await writeFile(temporary, `${JSON.stringify(stored)}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(temporary, 0o600);
    if (!options.exclusive) return rename(temporary, path);
    try {
      await link(temporary, path);
    } finally {
      await unlink(temporary);
    }
  }

  /**
   * Removes from `dir` the temporary files of saves that never finished (a process killed
   * between writing and renaming: each holds a private key), last changed before `before`
   * so that a save under way is left alone. Returns how many were removed.
   */
  static async sweepTemporaries(dir: string, before: Date): Promise<number> {
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    let removed = 0;
    for (const name of names.filter((n) => n.endsWith(TEMPORARY_SUFFIX))) {
      const info = await stat(join(dir, name)).catch(() => null);
      if (info?.isFile() && info.mtime < before) {
        await rm(join(dir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /**
   * Saves `signer` at `path` unless a key file is there already, and returns the key the file
   * holds: of racing callers (requests or processes) exactly one key wins and every one of
   * them signs with it. A key file is never replaced: it may hold a key already published.
   */
  static async saveOrLoad(path: string, signer: LocalSigner): Promise<LocalSigner> {
    try {
      await signer.save(path, { exclusive: true });
      return signer;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return LocalSigner.load(path);
    }
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    assertSignableMessage(message, this.maxMessageBytes);
    const signature = await signEd25519(this.#privateKey, message);
    assertSignatureLength(signature, this.kid);
    return signature;
  }

  async publicJwk() {
    return {
      ...toOkpJwk(createPublicKey(this.#privateKey)),
      kid: this.kid,
      alg: 'EdDSA' as const,
      use: 'sig' as const,
    };
  }
}

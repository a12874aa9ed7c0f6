/**
 * A real RFC 3161 Time-Stamp Authority for tests: OpenSSL's `openssl ts -reply` behind a small
 * HTTP server, with its own throw-away PKI in a temp directory. Modes make it answer with the
 * faults a TSA client must catch. TEST TOOLING ONLY: keys are unencrypted on disk, nothing is
 * authenticated, the clock is the machine's.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import {
  Attribute,
  Certificate,
  ContentInfo,
  EncapsulatedContentInfo,
  IssuerAndSerialNumber,
  PKIStatusInfo,
  SignedAndUnsignedAttributes,
  SignedData,
  SignerInfo,
  TimeStampReq,
  TimeStampResp,
} from 'pkijs';

/**
 * - `ok`: a normal reply from the TSA certificate under the trusted CA.
 * - `wrong-ca`: signed by a TSA under a second CA that `trustPem` does not contain.
 * - `non-critical-eku`: a valid token from a certificate under the trusted CA whose
 *   extendedKeyUsage timeStamping is not marked critical.
 * - `wrong-nonce` / `wrong-imprint`: the query is altered before OpenSSL answers it.
 * - `error-status`: a TimeStampResp with status rejection (2) and no token.
 */
export type TsaMode =
  | 'ok'
  | 'wrong-ca'
  | 'non-critical-eku'
  | 'wrong-nonce'
  | 'wrong-imprint'
  | 'error-status';

export interface TsaTestServer {
  /** `http://127.0.0.1:<port>`; stays the same across stop() / start(). */
  readonly url: string;
  /** File holding the trusted CA's PEM: the trust anchor to configure. */
  readonly trustPemPath: string;
  readonly trustPem: string;
  /** PEM of the unrelated second CA that signs in `wrong-ca` mode: an anchor that must fail. */
  readonly otherCaPem: string;
  /** POST requests received so far, whatever the mode. */
  readonly requests: number;
  /** The temp directory with keys, certificates and the OpenSSL config. */
  readonly dir: string;
  setMode(mode: TsaMode): void;
  /** Stops listening (dropping open connections) but keeps the port for start(). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Stops and deletes the temp directory. */
  close(): Promise<void>;
}

export interface TsaServerOptions {
  port?: number;
  /** Hash of the ESS signing-certificate attribute: sha256 (v2, default) or sha1 (v1). */
  essCertIdAlg?: 'sha1' | 'sha256';
  /**
   * The key of the root CA (the trust anchor): EC P-256 (default) or Ed25519 (RFC 8410), which
   * signs the TSA's EC certificate with pure EdDSA. OpenSSL cannot sign a token with Ed25519.
   */
  rootKey?: 'ec' | 'ed25519';
}

const POLICY = '1.3.6.1.4.1.99999.1';
const ID_CT_TST_INFO = '1.2.840.113549.1.9.16.1.4';
// Twenty years, so a committed fixture token keeps verifying.
const VALIDITY_DAYS = '7300';

const X509_CONFIG = `[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_tsa]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_tsa_noncritical_eku]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

function tsaConfig(dir: string, essCertIdAlg: string): string {
  // The serial file comes from the environment so concurrent replies each get their own file.
  const section = (name: string, cert: string, key: string, chain: string) => `[${name}]
serial = $ENV::TSA_SERIAL
signer_cert = ${join(dir, cert)}
certs = ${join(dir, chain)}
signer_key = ${join(dir, key)}
signer_digest = sha256
default_policy = ${POLICY}
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = ${essCertIdAlg}
`;
  return `[tsa]
default_tsa = tsa_ok
${section('tsa_ok', 'tsa.crt', 'tsa.key', 'ca.crt')}
${section('tsa_wrong_ca', 'tsa2.crt', 'tsa2.key', 'ca2.crt')}`;
}

function openssl(
  dir: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'openssl',
      args,
      { cwd: dir, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`openssl ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** A positive random serial, as `-set_serial` wants it. */
function randomSerial(): string {
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

async function createPki(dir: string, rootKey: 'ec' | 'ed25519'): Promise<void> {
  await writeFile(join(dir, 'x509.cnf'), X509_CONFIG);
  const key = (name: string) =>
    openssl(
      dir,
      name === 'ca.key' && rootKey === 'ed25519'
        ? ['genpkey', '-algorithm', 'ED25519', '-out', name]
        : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name],
    );
  // Pure EdDSA names no digest: OpenSSL refuses one with an Ed25519 key.
  const digestOf = (signingKey: string) =>
    signingKey === 'ca' && rootKey === 'ed25519' ? [] : ['-sha256'];
  const rootCa = (name: string, subject: string) =>
    openssl(dir, [
      'req',
      '-new',
      '-x509',
      '-config',
      'x509.cnf',
      '-extensions',
      'v3_ca',
      '-key',
      `${name}.key`,
      '-subj',
      subject,
      '-days',
      VALIDITY_DAYS,
      ...digestOf(name),
      '-set_serial',
      randomSerial(),
      '-out',
      `${name}.crt`,
    ]);
  const issue = async (name: string, ca: string, subject: string, extensions: string) => {
    await openssl(dir, [
      'req',
      '-new',
      '-config',
      'x509.cnf',
      '-key',
      `${name}.key`,
      '-subj',
      subject,
      '-out',
      `${name}.csr`,
    ]);
    await openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      randomSerial(),
      '-days',
      VALIDITY_DAYS,
      ...digestOf(ca),
      '-extfile',
      'x509.cnf',
      '-extensions',
      extensions,
      '-out',
      `${name}.crt`,
    ]);
  };

  await Promise.all(['ca', 'tsa', 'ca2', 'tsa2', 'noncrit'].map((name) => key(`${name}.key`)));
  await Promise.all([
    rootCa('ca', '/O=Quittance Test/CN=Quittance Test Root CA'),
    rootCa('ca2', '/O=Unrelated Test/CN=Unrelated Test Root CA'),
  ]);
  await Promise.all([
    issue('tsa', 'ca', '/O=Quittance Test/CN=Quittance Test TSA', 'v3_tsa'),
    issue('tsa2', 'ca2', '/O=Unrelated Test/CN=Unrelated Test TSA', 'v3_tsa'),
    issue(
      'noncrit',
      'ca',
      '/O=Quittance Test/CN=Quittance Test TSA (non-critical EKU)',
      'v3_tsa_noncritical_eku',
    ),
  ]);
}

function pemBody(pem: string): Uint8Array<ArrayBuffer> {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/** Signer for the `non-critical-eku` mode, loaded on first use. */
interface NonCriticalSigner {
  key: CryptoKey;
  cert: Certificate;
  certDer: Uint8Array<ArrayBuffer>;
  ca: Certificate;
}

async function loadNonCriticalSigner(dir: string): Promise<NonCriticalSigner> {
  const [keyPem, certPem, caPem] = await Promise.all(
    ['noncrit.key', 'noncrit.crt', 'ca.crt'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  const certDer = pemBody(certPem as string);
  const key = await globalThis.crypto.subtle.importKey(
    'pkcs8',
    pemBody(keyPem as string),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  return {
    key,
    cert: Certificate.fromBER(certDer),
    certDer,
    ca: Certificate.fromBER(pemBody(caPem as string)),
  };
}

/**
 * Re-signs the TSTInfo of a good reply with the non-critical-EKU certificate, with the same
 * signed attributes OpenSSL would add, so the EKU is the token's only defect. OpenSSL itself
 * refuses such a signer (its timestamp purpose check demands a critical EKU).
 */
async function resignWithNonCriticalEku(
  replyDer: Uint8Array<ArrayBuffer>,
  signer: NonCriticalSigner,
  essCertIdAlg: 'sha1' | 'sha256',
): Promise<Uint8Array> {
  const reply = TimeStampResp.fromBER(replyDer);
  if (!reply.timeStampToken) throw new Error('OpenSSL reply has no token to re-sign');
  const original = new SignedData({ schema: reply.timeStampToken.content });
  const tstInfo = original.encapContentInfo.eContent?.getValue();
  if (!tstInfo) throw new Error('OpenSSL token has no TSTInfo');

  const subtle = globalThis.crypto.subtle;
  const messageDigest = await subtle.digest('SHA-256', tstInfo);
  const certHash = await subtle.digest(
    essCertIdAlg === 'sha1' ? 'SHA-1' : 'SHA-256',
    signer.certDer,
  );
  // SigningCertificate(V2) { certs: [ ESSCertID(v2) { certHash } ] }; v2's sha256 is the default.
  const essCertId = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [new asn1js.Sequence({ value: [new asn1js.OctetString({ valueHex: certHash })] })],
      }),
    ],
  });
  const attributes = [
    new Attribute({
      type: '1.2.840.113549.1.9.3',
      values: [new asn1js.ObjectIdentifier({ value: ID_CT_TST_INFO })],
    }),
    new Attribute({
      type: '1.2.840.113549.1.9.5',
      values: [new asn1js.UTCTime({ valueDate: new Date() })],
    }),
    new Attribute({
      type: '1.2.840.113549.1.9.4',
      values: [new asn1js.OctetString({ valueHex: messageDigest })],
    }),
    new Attribute({
      type: essCertIdAlg === 'sha1' ? '1.2.840.113549.1.9.16.2.12' : '1.2.840.113549.1.9.16.2.47',
      values: [essCertId],
    }),
  ];
  const signed = new SignedData({
    version: 3,
    encapContentInfo: new EncapsulatedContentInfo({
      eContentType: ID_CT_TST_INFO,
      eContent: new asn1js.OctetString({ valueHex: tstInfo }),
    }),
    signerInfos: [
      new SignerInfo({
        version: 1,
        sid: new IssuerAndSerialNumber({
          issuer: signer.cert.issuer,
          serialNumber: signer.cert.serialNumber,
        }),
        signedAttrs: new SignedAndUnsignedAttributes({ type: 0, attributes }),
      }),
    ],
    certificates: [signer.cert, signer.ca],
  });
  await signed.sign(signer.key, 0, 'SHA-256');
  const response = new TimeStampResp({
    status: new PKIStatusInfo({ status: 0 }),
    timeStampToken: new ContentInfo({
      contentType: '1.2.840.113549.1.7.2',
      content: signed.toSchema(true),
    }),
  });
  return new Uint8Array(response.toSchema().toBER());
}

/** A TimeStampResp with status rejection, failInfo badRequest, and no token. */
function rejection(): Uint8Array {
  const response = new TimeStampResp({
    status: new PKIStatusInfo({
      status: 2,
      statusStrings: [new asn1js.Utf8String({ value: 'rejected by the test TSA' })],
      // PKIFailureInfo bit 2 (badRequest): one byte, 0b0010_0000, five unused bits.
      failInfo: new asn1js.BitString({ unusedBits: 5, valueHex: new Uint8Array([0x20]) }),
    }),
  });
  return new Uint8Array(response.toSchema().toBER());
}

/** Alters a TimeStampReq the way a confused or malicious TSA would answer it. */
function rewriteQuery(
  query: Uint8Array<ArrayBuffer>,
  mode: 'wrong-nonce' | 'wrong-imprint',
): Uint8Array {
  const request = TimeStampReq.fromBER(query);
  if (mode === 'wrong-nonce') {
    const nonce = request.nonce?.toBigInt() ?? 0n;
    request.nonce = asn1js.Integer.fromBigInt(nonce + 1n);
  } else {
    const hash = new Uint8Array(request.messageImprint.hashedMessage.valueBlock.valueHexView);
    hash[0] = (hash[0] as number) ^ 0xff;
    request.messageImprint.hashedMessage = new asn1js.OctetString({ valueHex: hash });
  }
  return new Uint8Array(request.toSchema().toBER());
}

/**
 * Starts a TSA on 127.0.0.1 with a fresh PKI: a root CA (the trust anchor), its TSA
 * certificate, an unrelated second CA with its own TSA, and a TSA certificate under the first
 * CA with a non-critical extendedKeyUsage. All certificates are EC P-256, valid 20 years.
 */
export async function startTsaServer(options: TsaServerOptions = {}): Promise<TsaTestServer> {
  const essCertIdAlg = options.essCertIdAlg ?? 'sha256';
  const dir = await mkdtemp(join(tmpdir(), 'quittance-tsa-'));
  try {
    await createPki(dir, options.rootKey ?? 'ec');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const configPath = join(dir, 'tsa.cnf');
  await writeFile(configPath, tsaConfig(dir, essCertIdAlg));
  const [trustPem, otherCaPem] = await Promise.all([
    readFile(join(dir, 'ca.crt'), 'utf8'),
    readFile(join(dir, 'ca2.crt'), 'utf8'),
  ]);
  const trustPemPath = join(dir, 'trust.pem');
  await writeFile(trustPemPath, trustPem);

  let mode: TsaMode = 'ok';
  let requests = 0;
  let sequence = 0;
  // Distinct serials across servers and runs without a shared, racy serial file.
  let serial = BigInt(Date.now()) * 1000n;
  let nonCritical: Promise<NonCriticalSigner> | undefined;

  async function reply(query: Uint8Array<ArrayBuffer>, current: TsaMode): Promise<Uint8Array> {
    if (current === 'error-status') return rejection();
    const id = `${++sequence}-${randomBytes(4).toString('hex')}`;
    const files = {
      query: join(dir, `query-${id}.tsq`),
      reply: join(dir, `reply-${id}.tsr`),
      serial: join(dir, `serial-${id}`),
    };
    const rewritten =
      current === 'wrong-nonce' || current === 'wrong-imprint'
        ? rewriteQuery(query, current)
        : query;
    try {
      await Promise.all([
        writeFile(files.query, rewritten),
        writeFile(files.serial, `${(++serial).toString(16).padStart(16, '0')}\n`),
      ]);
      const section = current === 'wrong-ca' ? 'tsa_wrong_ca' : 'tsa_ok';
      await openssl(
        dir,
        [
          'ts',
          '-reply',
          '-config',
          configPath,
          '-section',
          section,
          '-queryfile',
          files.query,
          '-out',
          files.reply,
        ],
        { TSA_SERIAL: files.serial },
      );
      const der = new Uint8Array(await readFile(files.reply));
      if (current !== 'non-critical-eku') return der;
      nonCritical ??= loadNonCriticalSigner(dir);
      return resignWithNonCriticalEku(der, await nonCritical, essCertIdAlg);
    } finally {
      await Promise.all(Object.values(files).map((f) => unlink(f).catch(() => undefined)));
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    requests++;
    if (req.headers['content-type'] !== 'application/timestamp-query') {
      res.writeHead(415, { 'content-type': 'text/plain' }).end('expected timestamp-query');
      return;
    }
    try {
      const der = await reply(new Uint8Array(Buffer.concat(chunks)), mode);
      res.writeHead(200, {
        'content-type': 'application/timestamp-reply',
        'content-length': der.length,
      });
      res.end(der);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  }

  let server: Server | undefined;
  let port = options.port ?? 0;
  async function start(): Promise<void> {
    if (server) return;
    const created = createServer((req, res) => {
      handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => {
        created.off('error', reject);
        resolve();
      });
    });
    port = (created.address() as AddressInfo).port;
    server = created;
  }
  async function stop(): Promise<void> {
    const running = server;
    if (!running) return;
    server = undefined;
    await new Promise<void>((resolve, reject) => {
      running.closeAllConnections();
      running.close((error) => (error ? reject(error) : resolve()));
    });
  }

  try {
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    trustPemPath,
    trustPem,
    otherCaPem,
    dir,
    get requests() {
      return requests;
    },
    setMode(next) {
      mode = next;
    },
    stop,
    start,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

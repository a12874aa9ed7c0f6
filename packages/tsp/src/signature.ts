import * as asn1js from 'asn1js';
import { AlgorithmIdentifier, getCrypto } from 'pkijs';
import { bytesEqual, digest, hashName, OID, parseAsn1 } from './bytes';
import { type CertEntry, publicKey, subjectKeyId } from './certs';
import { Fields, integerOf, isUniversal, octetsOf, oidOf, readDer, TAG, type Tlv } from './der';
import { installEngine } from './engine';
import { TspError } from './errors';
import { isSameName } from './names';
import type { AlgorithmId, ParsedToken, SignerId } from './token';

const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const EC_PUBLIC_KEY = '1.2.840.10045.2.1';

// The signature algorithms pkijs verifies without parameters, with the hash each one names.
const ECDSA_HASHES: Record<string, string> = {
  '1.2.840.10045.4.1': 'SHA-1',
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};
const RSA_HASHES: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'SHA-1',
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
};
const EC_CURVES: Record<string, { name: string; size: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
};

/**
 * Verifies the token's CMS signature and returns the signer certificate: the signer identifier
 * names an embedded certificate, the content-type and message-digest signed attributes match the
 * TSTInfo, and the certificate's key verifies the signature over the signed attributes.
 *
 * @throws TspError `bad_signature`.
 */
export async function verifySignature(token: ParsedToken): Promise<CertEntry> {
  const { signerInfo, tstInfoDer } = token;
  const bad = (message: string, cause?: unknown) =>
    new TspError('bad_signature', message, { cause });
  const signer = await findSigner(signerInfo.sid, token.certificates);
  if (!signer) {
    throw bad('no certificate in the token matches the signer identifier (was certReq set?)');
  }
  const hash = hashName(signerInfo.digestAlgorithm.oid);
  if (!hash) throw bad(`unsupported digest algorithm ${signerInfo.digestAlgorithm.oid}`);

  const { signedAttrs } = signerInfo;
  // The key verifies while the TSTInfo is hashed: both are WebCrypto round trips. The signature's
  // outcome is only looked at once the attributes have passed, as before.
  const signature = verifyWithCertificate(
    signer,
    signerInfo.signatureAlgorithm,
    hash,
    signerInfo.signature,
    signedAttrs ? signedAttrs.der : tstInfoDer,
  ).then(
    (valid) => ({ valid, error: undefined }),
    (error: unknown) => ({ valid: false, error }),
  );
  if (signedAttrs) {
    const single = (type: string, name: string): Tlv => {
      const found = signedAttrs.attributes.filter((a) => a.type === type);
      const value = found[0]?.values[0];
      if (found.length !== 1 || found[0]?.values.length !== 1 || !value) {
        throw bad(`signed attributes must hold exactly one ${name} value`);
      }
      return value;
    };
    const contentType = single(OID.contentType, 'content-type');
    if (
      !isUniversal(contentType, TAG.oid) ||
      oidOf(contentType, 'content-type attribute', bad) !== OID.tstInfo
    ) {
      throw bad('content-type signed attribute is not id-ct-TSTInfo');
    }
    const messageDigest = single(OID.messageDigest, 'message-digest');
    const actual = await digest(hash, tstInfoDer);
    if (
      !isUniversal(messageDigest, TAG.octetString) ||
      messageDigest.constructed ||
      !bytesEqual(octetsOf(messageDigest, 'message-digest attribute', bad), actual)
    ) {
      throw bad(`message-digest signed attribute does not match the ${hash} of the TSTInfo`);
    }
  }

  const { valid, error } = await signature;
  if (error !== undefined) {
    const detail = error instanceof Error ? error.message : String(error);
    throw bad(`signature could not be verified: ${detail}`, error);
  }
  if (!valid) throw bad('CMS signature does not verify with the signer certificate key');
  return signer;
}

async function findSigner(
  sid: SignerId,
  certificates: readonly CertEntry[],
): Promise<CertEntry | undefined> {
  if ('keyId' in sid) {
    // subjectKeyIdentifier: the certificate's SKI extension, or SHA-1 of its key.
    for (const candidate of certificates) {
      if (bytesEqual(await subjectKeyId(candidate), sid.keyId)) return candidate;
    }
    return undefined;
  }
  return certificates.find((candidate) => {
    if (!bytesEqual(candidate.serial, sid.serial)) return false;
    try {
      return isSameName(candidate.cert.issuer, sid.issuer, candidate.issuerDer);
    } catch (error) {
      throw new TspError('malformed', 'SignerInfo.sid.issuer is not a valid Name', {
        cause: error,
      });
    }
  });
}

/**
 * Verifies `signature` over `data` with the signer's key, as pkijs' verifyWithPublicKey does but
 * with the imported key cached per certificate. `digestHash` is the SignerInfo digest algorithm,
 * which plain rsaEncryption relies on since it names no hash.
 */
async function verifyWithCertificate(
  signer: CertEntry,
  algorithm: AlgorithmId,
  digestHash: string,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  const subtle = globalThis.crypto.subtle;
  const keyAlgorithm = signer.cert.subjectPublicKeyInfo.algorithm;
  const ecdsaHash = ECDSA_HASHES[algorithm.oid];
  const rsaHash = algorithm.oid === RSA_ENCRYPTION ? digestHash : RSA_HASHES[algorithm.oid];
  if (ecdsaHash && keyAlgorithm.algorithmId === EC_PUBLIC_KEY) {
    const params = keyAlgorithm.algorithmParams;
    const curveOid = params instanceof asn1js.ObjectIdentifier ? params.getValue() : undefined;
    const curve = curveOid === undefined ? undefined : EC_CURVES[curveOid];
    if (!curve) throw new Error(`unsupported EC public key curve ${curveOid ?? '(none)'}`);
    const key = await publicKey(signer, { name: 'ECDSA', namedCurve: curve.name });
    const raw = ecdsaRawSignature(signature, curve.size);
    if (!raw) return false;
    return subtle.verify(
      { name: 'ECDSA', hash: ecdsaHash },
      key,
      raw as Uint8Array<ArrayBuffer>,
      data as Uint8Array<ArrayBuffer>,
    );
  }
  if (rsaHash && keyAlgorithm.algorithmId === RSA_ENCRYPTION) {
    const key = await publicKey(signer, { name: 'RSASSA-PKCS1-v1_5', hash: rsaHash });
    return subtle.verify(
      'RSASSA-PKCS1-v1_5',
      key,
      signature as Uint8Array<ArrayBuffer>,
      data as Uint8Array<ArrayBuffer>,
    );
  }
  // Anything else (RSASSA-PSS, Ed25519, a key that does not match the algorithm): pkijs, as
  // before, with Ed25519 added (engine.ts).
  installEngine();
  return getCrypto(true).verifyWithPublicKey(
    data as Uint8Array<ArrayBuffer>,
    new asn1js.OctetString({ valueHex: signature.slice() }),
    signer.cert.subjectPublicKeyInfo,
    new AlgorithmIdentifier({ schema: parseAsn1(algorithm.der.slice(), 'signatureAlgorithm') }),
    algorithm.oid === RSA_ENCRYPTION ? digestHash : undefined,
  );
}

/**
 * A CMS ECDSA signature (DER Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }) as the
 * fixed-size r || s that WebCrypto takes; undefined when it is not one.
 */
function ecdsaRawSignature(der: Uint8Array, size: number): Uint8Array | undefined {
  let r: Uint8Array;
  let s: Uint8Array;
  try {
    const fields = Fields.of(readDer(der, 'ECDSA signature'), 'ECDSA signature');
    r = integerOf(fields.next('r'), 'ECDSA signature r');
    s = integerOf(fields.next('s'), 'ECDSA signature s');
    fields.end();
  } catch {
    return undefined;
  }
  const out = new Uint8Array(size * 2);
  for (const [i, value] of [r, s].entries()) {
    if (((value[0] as number) & 0x80) !== 0) return undefined;
    let start = 0;
    while (start < value.length - 1 && value[start] === 0) start++;
    if (value.length - start > size) return undefined;
    out.set(value.subarray(start), size * (i + 1) - (value.length - start));
  }
  return out;
}

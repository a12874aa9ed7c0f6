import type * as asn1js from 'asn1js';
import { type AlgorithmIdentifier, CryptoEngine, type PublicKeyInfo, setEngine } from 'pkijs';

/** id-Ed25519 (RFC 8410): the signature algorithm and the key's algorithm alike. */
const ED25519 = '1.3.101.112';

/**
 * pkijs's WebCrypto engine, with the Ed25519 signatures it does not verify (RFC 8410; pkijs
 * knows RSA and ECDSA only). A TSA certificate issued by an Ed25519 CA failed chain validation
 * ("No valid certificate paths found"), though OpenSSL accepts it: an operator's TSA, found
 * by an outside check. WebCrypto verifies Ed25519 in Node 20 and in current browsers.
 */
class Ed25519Engine extends CryptoEngine {
  override async verifyWithPublicKey(
    data: BufferSource,
    signature: asn1js.BitString | asn1js.OctetString,
    publicKeyInfo: PublicKeyInfo,
    signatureAlgorithm: AlgorithmIdentifier,
    shaAlgorithm?: string,
  ): Promise<boolean> {
    if (signatureAlgorithm.algorithmId !== ED25519)
      return super.verifyWithPublicKey(
        data,
        signature,
        publicKeyInfo,
        signatureAlgorithm,
        shaAlgorithm,
      );
    // RFC 8410 §3: the parameters are absent; a key of another kind cannot have signed it.
    if (publicKeyInfo.algorithm.algorithmId !== ED25519) return false;
    const subtle = globalThis.crypto.subtle;
    const key = await subtle.importKey(
      'spki',
      publicKeyInfo.toSchema().toBER(false),
      { name: 'Ed25519' },
      false,
      ['verify'],
    );
    return subtle.verify(
      { name: 'Ed25519' },
      key,
      signature.valueBlock.valueHexView as Uint8Array<ArrayBuffer>,
      data,
    );
  }
}

let installed = false;

/** Makes pkijs (chain validation, certificate signatures) use {@link Ed25519Engine}. */
export function installEngine(): void {
  if (installed) return;
  installed = true;
  setEngine('quittance', new Ed25519Engine({ name: 'quittance', crypto: globalThis.crypto }));
}

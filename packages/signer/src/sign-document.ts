import {
  base64url,
  detachedJws,
  planDigestSignature,
  planSignature,
  type SigningPlan,
} from '@quittance/format';
import type { Signer } from './signer';

export interface DetachedSignature {
  plan: SigningPlan;
  signature: Uint8Array;
  jws: string;
}

/**
 * Signs `document` (its envelope already removed) with `signer` under `typ`, SPEC §2 rules.
 * The 4096-byte limit is enforced while planning, before the signer is called.
 */
export async function signDetached(
  document: unknown,
  typ: string,
  signer: Signer,
): Promise<DetachedSignature> {
  const plan = planSignature(document, signer.kid, typ, signer.maxMessageBytes);
  return signPlan(plan, signer);
}

/**
 * Signs a document that grows without bound (snapshot, manifest) through its digest
 * statement (SPEC §2.1): the signing input stays small whatever the document's size.
 */
export async function signDigest(
  document: unknown,
  typ: string,
  signer: Signer,
): Promise<DetachedSignature> {
  return signPlan(await planDigestSignature(document, signer.kid, typ), signer);
}

export async function signPlan(plan: SigningPlan, signer: Signer): Promise<DetachedSignature> {
  const signature = await signer.sign(plan.signingInput);
  return { plan, signature, jws: detachedJws(plan, signature) };
}

/** An attached compact JWS (e.g. a revocation statement): `header.payload.signature`. */
export async function signCompact(document: unknown, typ: string, signer: Signer): Promise<string> {
  const plan = planSignature(document, signer.kid, typ, signer.maxMessageBytes);
  const signature = await signer.sign(plan.signingInput);
  return `${plan.headerB64}.${plan.payloadB64}.${base64url(signature)}`;
}

import type { Services } from '../services';
import { ProofService } from './proofs';

const proofServices = new WeakMap<Services, ProofService>();

/** The proof service of these services (made once; it holds no state of its own). */
export function proofsOf(services: Services): ProofService {
  let proofs = proofServices.get(services);
  if (!proofs) {
    proofs = new ProofService(
      services.db,
      services.receipts,
      Math.max(1, Math.ceil(services.config.checkpointIntervalMs / 1000)),
    );
    proofServices.set(services, proofs);
  }
  return proofs;
}

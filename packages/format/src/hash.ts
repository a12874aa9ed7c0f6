import { sha256 } from '#sha256';
import { toHex } from './encoding';

/**
 * SHA-256 as lowercase hex. `#sha256` resolves to node:crypto under Node and to WebCrypto
 * elsewhere (package.json `imports`), so the package runs unchanged in browsers.
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await sha256(bytes));
}

import { type Db, receiptBodies, vaultKeys } from '@quittance/db';
import { fromUtf8 } from '@quittance/format';
import { type Vault, VaultError } from '@quittance/vault';
import { eq } from 'drizzle-orm';

export type OpenedBodies = { input: unknown; output: unknown } | 'destroyed' | 'none';

/**
 * Decrypts a receipt's input and output from the vault; 'destroyed' once retention shredded
 * the month's data key, 'none' for a receipt issued with hashes only.
 */
export async function openBodies(
  db: Db,
  vault: Vault,
  merchantId: string,
  receiptId: string,
): Promise<OpenedBodies> {
  const sealed = await db
    .select({
      kind: receiptBodies.kind,
      vaultKeyId: receiptBodies.vaultKeyId,
      iv: receiptBodies.iv,
      ciphertext: receiptBodies.ciphertext,
      destroyedAt: vaultKeys.destroyedAt,
    })
    .from(receiptBodies)
    .innerJoin(vaultKeys, eq(vaultKeys.id, receiptBodies.vaultKeyId))
    .where(eq(receiptBodies.receiptId, receiptId));
  if (sealed.length === 0) return 'none';
  const out: Record<string, unknown> = {};
  for (const { destroyedAt, ...body } of sealed) {
    if (destroyedAt) return 'destroyed';
    try {
      const plaintext = await vault.decrypt({
        ...body,
        merchantId,
        receiptId,
        kind: body.kind as 'input' | 'output',
      });
      out[body.kind] = JSON.parse(fromUtf8(plaintext));
    } catch (error) {
      // Another process may have shredded the key after this one cached the row.
      if (error instanceof VaultError && error.code === 'key_destroyed') return 'destroyed';
      throw error;
    }
  }
  return { input: out.input, output: out.output };
}

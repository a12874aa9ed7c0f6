import type { receipts } from '@quittance/db';
import type { Receipt, ReceiptTimestamp } from '@quittance/format';

export type ReceiptRecord = typeof receipts.$inferSelect;

/** The receipt as SPEC §1 shapes it: signed members, then the envelope. */
export function toReceipt(record: ReceiptRecord): Receipt {
  return {
    ...JSON.parse(record.signed),
    jws: record.jws,
    legal_posture: record.legalPosture as Receipt['legal_posture'],
    timestamp: (record.timestamp as ReceiptTimestamp | null) ?? null,
    chain: { seq: record.seq, prevHash: record.prevHash, entryHash: record.entryHash },
  };
}

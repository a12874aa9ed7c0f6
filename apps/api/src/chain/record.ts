import type { receipts } from '@quittance/db';
import type { Receipt, ReceiptTimestamp } from '@quittance/format';

export type ReceiptRecord = typeof receipts.$inferSelect;

/** What a receipt's answer is made of. */
export type EnvelopeRecord = Pick<
  ReceiptRecord,
  'signed' | 'jws' | 'legalPosture' | 'timestamp' | 'seq' | 'prevHash' | 'entryHash'
>;

/** The receipt as SPEC §1 shapes it: signed members, then the envelope. */
export function toReceipt(record: EnvelopeRecord): Receipt {
  return {
    ...JSON.parse(record.signed),
    jws: record.jws,
    legal_posture: record.legalPosture as Receipt['legal_posture'],
    timestamp: (record.timestamp as ReceiptTimestamp | null) ?? null,
    chain: { seq: record.seq, prevHash: record.prevHash, entryHash: record.entryHash },
  };
}

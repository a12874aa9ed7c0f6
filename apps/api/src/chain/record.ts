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

/**
 * The same receipt as JSON text, without parsing `signed` again: its canonical object text
 * with the envelope's members appended. The issue path answers with it (about 11 µs less per
 * receipt than toReceipt and JSON.stringify, measured). It also keeps the signed members'
 * canonical order where a parsed object would put integer-like member names first.
 */
export function receiptJson(record: EnvelopeRecord): string {
  const envelope = JSON.stringify({
    jws: record.jws,
    legal_posture: record.legalPosture,
    timestamp: record.timestamp ?? null,
    chain: { seq: record.seq, prevHash: record.prevHash, entryHash: record.entryHash },
  });
  // `signed` is a non-empty object's text (the signed members of SPEC §1), so `}` ends it.
  return `${record.signed.slice(0, -1)},${envelope.slice(1)}`;
}

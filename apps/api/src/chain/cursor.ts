import { base64url, fromBase64url, fromUtf8, utf8 } from '@quittance/format';
import { ServiceError } from '../service-error';

/**
 * Opaque page cursor of the lists of receipts and checkpoints: the chain seq to continue
 * below. Seqs only grow, so pages stay stable while receipts are issued.
 */
export function encodeCursor(seq: number): string {
  return base64url(utf8(JSON.stringify({ s: seq })));
}

export function decodeCursor(cursor: string): number {
  try {
    const { s } = JSON.parse(fromUtf8(fromBase64url(cursor)));
    if (Number.isSafeInteger(s) && s > 0) return s;
  } catch {}
  throw new ServiceError('invalid_request', 'cursor is not one this API returned', {
    issues: [{ path: '/cursor', code: 'invalid_format', message: 'cursor is not valid' }],
  });
}

/**
 * One page of a list read newest first with `limit + 1` rows: the first `limit`, and the
 * cursor of the next page when the extra row says there is one.
 */
export function pageOf<T extends { seq: number }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
}

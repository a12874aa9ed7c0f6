import { chainHeads, type Db, receipts } from '@quittance/db';
import { chainLinkProblems, GENESIS_HASH, receiptHash } from '@quittance/format';
import { and, asc, eq, gt } from 'drizzle-orm';
import { toReceipt } from './record';

export interface ChainCheck {
  ok: boolean;
  merchantId: string;
  checked: number;
  head: { seq: number; entryHash: string };
  /** The first problems found (at most 20). */
  problems: string[];
}

/**
 * Recomputes every link of a merchant's chain from the stored receipts: seq from 1 without
 * gaps, receiptHash from the signed members and JWS, entryHash, prevHash, and the head.
 */
export async function checkChain(
  db: Db,
  merchantId: string,
  pageSize = 1_000,
): Promise<ChainCheck> {
  const problems: string[] = [];
  const report = (problem: string) => {
    if (problems.length < 20) problems.push(problem);
  };
  const [head] = await db.select().from(chainHeads).where(eq(chainHeads.merchantId, merchantId));
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  for (;;) {
    const page = await db
      .select()
      .from(receipts)
      .where(and(eq(receipts.merchantId, merchantId), gt(receipts.seq, expectedSeq - 1)))
      .orderBy(asc(receipts.seq))
      .limit(pageSize);
    for (const record of page) {
      const recomputed = await receiptHash(toReceipt(record));
      const entry = {
        seq: record.seq,
        prevHash: record.prevHash,
        receiptId: record.id,
        receiptHash: recomputed,
        entryHash: record.entryHash,
      };
      // Before the first entry stands the genesis (seq 0, entryHash GENESIS_HASH), so a chain
      // that does not start from it is a prev_hash problem, as it always was reported here.
      const linkProblems = await chainLinkProblems(entry, {
        seq: expectedSeq - 1,
        entryHash: prevHash,
      });
      if (linkProblems.includes('gap'))
        report(`seq ${expectedSeq} is missing (next is ${record.seq})`);
      if (linkProblems.includes('prev_hash'))
        report(`seq ${record.seq}: prevHash does not link to seq ${record.seq - 1}`);
      if (recomputed !== record.receiptHash)
        report(`seq ${record.seq}: receiptHash does not recompute`);
      if (linkProblems.includes('entry_hash'))
        report(`seq ${record.seq}: entryHash does not recompute`);
      prevHash = record.entryHash;
      expectedSeq = record.seq + 1;
      checked++;
    }
    if (page.length < pageSize) break;
  }
  const last = { seq: expectedSeq - 1, entryHash: prevHash };
  if (!head) report('no chain head');
  else if (head.seq !== last.seq || head.entryHash !== last.entryHash) {
    report(`head (seq ${head.seq}) does not match the last entry (seq ${last.seq})`);
  }
  return { ok: problems.length === 0, merchantId, checked, head: last, problems };
}

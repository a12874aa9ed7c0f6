import type { JwksSnapshot } from '@quittance/format';
import { asserted, type Claim, refuted } from '../claims';
import { KeyCache } from '../ed25519';
import { type KeyHistory, loadKeyHistory, type PublisherKeys } from '../key-history';
import type { BundleContents } from './contents';
import { isCount, isJsonObject, listed, messageOf, parseJson, showValue } from './json';
import { periodOfSnapshotPath, snapshotPath } from './layout';
import { formatBytes, WHOLE_FILE_BYTES } from './limits';

export interface SnapshotsRead {
  /** snapshot_authentic of the bundle. */
  claim: Claim;
  /** The newest snapshot's key history: every receipt, checkpoint and the manifest use it. */
  history: KeyHistory;
  /** The newest snapshot document, as JSON text (what worker threads load). */
  newest: string | undefined;
}

/**
 * snapshot_authentic: every `jwks/YYYY-MM.json` of the bundle is a key snapshot of its period,
 * signed by the pinned publisher key (checked by {@link loadKeyHistory}, as for a receipt's
 * snapshot). The newest (period, then version) gives the key history.
 */
export async function readSnapshots(
  contents: BundleContents,
  publisher: PublisherKeys,
): Promise<SnapshotsRead> {
  const names = contents
    .names()
    .filter((name) => periodOfSnapshotPath(name) !== undefined)
    .sort();
  const cache = new KeyCache();
  const problems: string[] = [];
  let newest: { doc: JwksSnapshot; history: KeyHistory } | undefined;
  for (const name of names) {
    const text = await contents.text(name, WHOLE_FILE_BYTES.snapshot);
    if (text === undefined) {
      problems.push(`${name} is larger than ${formatBytes(WHOLE_FILE_BYTES.snapshot)}`);
      continue;
    }
    const parsed = parseJson(text);
    if (!parsed.ok) {
      problems.push(`${name} ${parsed.problem}`);
      continue;
    }
    const doc = parsed.value;
    if (!isJsonObject(doc) || typeof doc.period !== 'string' || !isCount(doc.version)) {
      problems.push(`${name} is not a key snapshot (no string period or integer version)`);
      continue;
    }
    let history: KeyHistory;
    try {
      history = await loadKeyHistory(doc, { publisher, cache });
    } catch (error) {
      problems.push(`${name}: ${messageOf(error)}`);
      continue;
    }
    const snapshot = doc as unknown as JwksSnapshot;
    if (history.authentic.status !== 'asserted')
      problems.push(`${name}: ${history.authentic.reason}`);
    if (snapshotPath(snapshot.period) !== name)
      problems.push(`${name} holds period ${showValue(snapshot.period)}`);
    if (
      !newest ||
      snapshot.period > newest.doc.period ||
      (snapshot.period === newest.doc.period && snapshot.version > newest.doc.version)
    )
      newest = { doc: snapshot, history };
  }
  if (!newest)
    return {
      claim: refuted(
        problems.length
          ? `no usable key snapshot: ${listed(problems, 5)}`
          : 'the bundle has no key snapshot',
      ),
      history: await loadKeyHistory({ keys: [] }),
      newest: undefined,
    };
  return {
    claim: problems.length
      ? refuted(listed(problems, 5))
      : asserted(
          `${names.length} snapshots signed by the pinned publisher key; newest ${newest.doc.period} v${newest.doc.version}`,
        ),
    history: newest.history,
    newest: JSON.stringify(newest.doc),
  };
}

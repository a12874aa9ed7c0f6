import type { Claim, ClaimStatus } from '@quittance/verifier';
import { h } from './dom';
import { claimMeaning, claimTitle, sourceWords, statusWords } from './plain-words';
import {
  claimsFailuresFirst,
  overallVerdict,
  type PageResult,
  type ShownReceipt,
  type TimelineRow,
  type Verdict,
} from './report-model';

const SHOWN_TIMELINE_ROWS = 1_000;

const VERDICT_CLASS: Record<Verdict, string> = {
  PASS: 'pass',
  FAIL: 'fail',
  'NOT PROVEN': 'unproven',
};

/** The report: verdict first, then failures before everything else, in plain words. */
export function renderReport(result: PageResult): HTMLElement[] {
  const verdict = overallVerdict(result);
  return [
    renderVerdict(result, verdict),
    ...(Object.keys(result.claims).length
      ? [section('Checks of the bundle as a whole', claimTable(result.claims))]
      : []),
    ...(result.bundle && Object.keys(result.bundle.counts).length
      ? [section(`Checks of each receipt, counted`, countsTable(result.bundle.counts))]
      : []),
    ...renderTimelines(result.timeline),
    renderReceipts(result.shown, result.receiptCount),
  ];
}

function renderVerdict(result: PageResult, verdict: Verdict): HTMLElement {
  const counts = result.statusCounts;
  const n = result.receiptCount;
  const receipts = `${n.toLocaleString('en')} receipt${n === 1 ? '' : 's'}`;
  const what =
    result.bundle?.kind === 'order-evidence'
      ? `Order evidence for order ${result.bundle.orderId ?? '(unknown)'} with ${receipts}`
      : result.bundle
        ? `Export bundle with ${receipts}`
        : receipts;
  const summary: Record<Verdict, string> = {
    PASS: 'Every check passed. The evidence is authentic and unaltered.',
    FAIL: `${counts.refuted.toLocaleString('en')} check${counts.refuted === 1 ? '' : 's'} failed. Something in this evidence was altered, forged, or does not match:`,
    'NOT PROVEN': `Nothing is refuted, but ${counts.unknown.toLocaleString('en')} check${counts.unknown === 1 ? '' : 's'} could not be decided from this evidence (not proven does not mean false):`,
  };
  const tally = result.tally;
  const receiptsWord = (n: number) => `${n.toLocaleString('en')} receipt${n === 1 ? '' : 's'}`;
  // What failed, or what stays undecided, named in words: the reason for the verdict.
  const status = verdict === 'FAIL' ? 'refuted' : 'unknown';
  const word = verdict === 'FAIL' ? 'Failed' : 'Not proven';
  const listed = [...tally].flatMap(([name, t]) => {
    if (verdict === 'PASS') return [];
    const count = status === 'refuted' ? t.refuted : t.unknown;
    const lines: string[] = [];
    if (t.bundle?.status === status) lines.push(`${word}: ${claimTitle(name)} (the bundle)`);
    if (count > 0) lines.push(`${word}: ${claimTitle(name)} (${receiptsWord(count)})`);
    return lines;
  });
  const hints: string[] = [];
  const undecided = (name: string) =>
    (tally.get(name)?.unknown ?? 0) > 0 || tally.get(name)?.bundle?.status === 'unknown';
  if (!result.pinned.publisher && undecided('snapshot_authentic'))
    hints.push('No publisher key is pinned: pin it to check that the signing keys are genuine.');
  if (!result.pinned.tsa && undecided('timestamp_valid'))
    hints.push(
      'No timestamp authority is pinned: timestamps are checked only against a pinned one.',
    );
  if ([...tally.values()].some((t) => t.operatorAsserted > 0))
    hints.push(
      "Some passed checks rest on the operator's word (marked so below): the certificates they chain to came with the evidence. Pin your own to make them yours.",
    );
  return h(
    'div',
    { class: `verdict ${VERDICT_CLASS[verdict]}`, id: 'verdict', 'data-verdict': verdict },
    h('p', { class: 'verdict-word', id: 'verdict-word', tabindex: '-1' }, verdict),
    h('p', { class: 'verdict-summary' }, summary[verdict]),
    ...(listed.length
      ? [h('ul', { class: 'verdict-list' }, ...listed.map((line) => h('li', {}, line)))]
      : []),
    h('p', { class: 'verdict-subject' }, `${what}. Files: ${result.subject}.`),
    ...hints.map((hint) => h('p', { class: 'verdict-hint' }, hint)),
  );
}

function section(title: string, ...content: HTMLElement[]): HTMLElement {
  return h('section', { class: 'report-part' }, h('h3', {}, title), ...content);
}

function statusCell(status: ClaimStatus): HTMLElement {
  return h(
    'td',
    { class: `status ${status}` },
    h('span', { class: 'status-word' }, statusWords(status)),
    ' ',
    h('span', { class: 'status-term' }, `(${status})`),
  );
}

/** One row per claim, failures first: what it checks, its outcome, and the verifier's reason. */
function claimTable(claims: object): HTMLElement {
  const rows = claimsFailuresFirst(claims).map(([name, claim]: [string, Claim]) =>
    h(
      'tr',
      { 'data-claim': name, 'data-status': claim.status },
      h('th', { scope: 'row' }, claimTitle(name), h('br'), h('code', {}, name)),
      statusCell(claim.status),
      h(
        'td',
        {},
        claimMeaning(name, claim.status),
        h('br'),
        h('span', { class: 'reason' }, `Detail: ${claim.reason}`),
      ),
      h('td', { class: 'source' }, sourceWords(claim.source)),
    ),
  );
  return h(
    'table',
    { class: 'claims' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Check'),
        h('th', { scope: 'col' }, 'Result'),
        h('th', { scope: 'col' }, 'What it means'),
        h('th', { scope: 'col' }, 'Source'),
      ),
    ),
    h('tbody', {}, ...rows),
  );
}

function countsTable(counts: Record<string, Record<ClaimStatus, number>>): HTMLElement {
  const rows = Object.entries(counts)
    .sort(([, a], [, b]) => b.refuted - a.refuted)
    .map(([name, c]) =>
      h(
        'tr',
        { 'data-claim': name },
        h('th', { scope: 'row' }, claimTitle(name), h('br'), h('code', {}, name)),
        h('td', { class: c.refuted ? 'num refuted' : 'num' }, c.refuted.toLocaleString('en')),
        h('td', { class: c.unknown ? 'num unknown' : 'num' }, c.unknown.toLocaleString('en')),
        h('td', { class: 'num' }, c.asserted.toLocaleString('en')),
      ),
    );
  return h(
    'table',
    { class: 'counts' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Check'),
        h('th', { scope: 'col', class: 'num' }, 'Failed'),
        h('th', { scope: 'col', class: 'num' }, 'Not proven'),
        h('th', { scope: 'col', class: 'num' }, 'Passed'),
      ),
    ),
    h('tbody', {}, ...rows),
  );
}

/** Each order's receipts in time order: when, which agent, which tool, and the receipt's result. */
function renderTimelines(timeline: TimelineRow[]): HTMLElement[] {
  const orders = new Map<string, TimelineRow[]>();
  for (const fact of timeline) {
    if (fact.orderId === undefined) continue;
    const entries = orders.get(fact.orderId) ?? [];
    if (!entries.length) orders.set(fact.orderId, entries);
    entries.push(fact);
  }
  return [...orders].map(([orderId, entries]) => {
    entries.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
    const rows = entries.slice(0, SHOWN_TIMELINE_ROWS).map((fact) => {
      const { verdict, shownPosition: position } = fact;
      return h(
        'tr',
        { 'data-receipt-id': fact.id },
        h('td', {}, h('time', { datetime: fact.createdAt }, fact.createdAt.replace('T', ' '))),
        h('td', {}, fact.agentId),
        h('td', {}, fact.tool),
        h('td', {}, fact.bucket),
        h(
          'td',
          { class: `verdict-cell ${verdict ? VERDICT_CLASS[verdict] : ''}` },
          verdict ?? 'not verified',
        ),
        h(
          'td',
          {},
          position === undefined
            ? h('code', {}, fact.id)
            : h('a', { href: `#receipt-${position}` }, h('code', {}, fact.id)),
        ),
      );
    });
    const more = entries.length - rows.length;
    return section(
      `Timeline of order ${orderId}`,
      h(
        'table',
        { class: 'timeline' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Time (UTC)', 'Agent', 'Tool', 'Bucket', 'Result', 'Receipt'].map((title) =>
              h('th', { scope: 'col' }, title),
            ),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
      ...(more > 0 ? [h('p', {}, `and ${more.toLocaleString('en')} more in the JSON report`)] : []),
    );
  });
}

/** Receipts with a failure first and open; the others folded. */
function renderReceipts(shownReceipts: ShownReceipt[], count: number): HTMLElement {
  const shown = shownReceipts.map(({ report, verdict, position }) =>
    h(
      'details',
      {
        class: `receipt ${VERDICT_CLASS[verdict]}`,
        id: `receipt-${position}`,
        'data-receipt-id': report.id,
        'data-verdict': verdict,
        ...(verdict === 'FAIL' ? { open: '' } : {}),
      },
      h(
        'summary',
        {},
        h('span', { class: `badge ${VERDICT_CLASS[verdict]}` }, verdict),
        ' Receipt ',
        h('code', {}, report.id),
      ),
      claimTable(report.claims),
    ),
  );
  const notes: HTMLElement[] = [];
  if (count > shown.length)
    notes.push(
      h(
        'p',
        {},
        `The ${shown.length} receipts above come first by result; all ${count.toLocaleString('en')} are in the JSON report.`,
      ),
    );
  return section(
    `Receipts (${count.toLocaleString('en')}), failures first`,
    ...(shown.length ? shown : [h('p', {}, 'No receipt could be read.')]),
    ...notes,
  );
}

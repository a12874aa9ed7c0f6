import { byId, h } from './dom';
import { classifyFile, type EvidenceRole } from './evidence-files';
import type { VerifyRequest } from './protocol';
import type { PageResult } from './report-model';
import { renderReport } from './report-view';
import { type Run, startRun } from './runner';
import {
  describePublisher,
  describeTsaTrust,
  forgetPublisher,
  forgetTsaTrust,
  pinnedPublisher,
  pinnedTsaTrust,
  pinPublisher,
  pinTsaTrust,
} from './trust-store';

type Slot = 'receipts' | 'snapshot' | 'proof' | 'bundle';
const SLOT_WORDS: Record<Slot, string> = {
  receipts: 'receipts',
  snapshot: 'key snapshot',
  proof: 'inclusion proof',
  bundle: 'bundle (zip)',
};

/** The page side: roots of trust, evidence slots, one run at a time, the report. */
export function startPage(scriptText: string): void {
  const evidence: Partial<Record<Slot, File>> = {};
  let run: Run | undefined;
  let result: PageResult | undefined;

  const status = byId('status');
  const say = (text: string) => {
    status.textContent = text;
  };

  // --- Roots of trust -------------------------------------------------------------------
  const pins = [
    {
      name: 'publisher',
      what: 'publisher key',
      read: pinnedPublisher,
      write: pinPublisher,
      forget: forgetPublisher,
      describe: async (text: string) =>
        (await describePublisher(text)).map(
          (k) => `Pinned publisher key ${k.kid}, thumbprint (RFC 7638, SHA-256) ${k.thumbprint}`,
        ),
    },
    {
      name: 'tsa',
      what: 'timestamp authority certificates',
      read: pinnedTsaTrust,
      write: pinTsaTrust,
      forget: forgetTsaTrust,
      describe: async (text: string) =>
        (await describeTsaTrust(text)).map(
          (c) => `Pinned timestamp authority ${c.subject}, SHA-256 fingerprint ${c.fingerprint}`,
        ),
    },
  ] as const;

  for (const pin of pins) {
    const textArea = byId<HTMLTextAreaElement>(`${pin.name}-text`);
    const fileInput = byId<HTMLInputElement>(`${pin.name}-file`);
    const error = byId(`${pin.name}-error`);
    const shown = byId(`${pin.name}-pinned`);
    const show = async () => {
      const text = pin.read();
      shown.replaceChildren();
      // Pinned: the form folds away (its summary offers to replace); else it is the next step.
      const form = byId<HTMLDetailsElement>(`${pin.name}-form`);
      form.open = text === undefined;
      const summary = form.querySelector('summary');
      if (summary)
        summary.textContent =
          text === undefined ? `Pin ${pin.what}` : `Replace the pinned ${pin.what}`;
      if (text === undefined) {
        shown.append(h('p', { class: 'not-pinned' }, 'Nothing pinned.'));
        return;
      }
      try {
        for (const line of await pin.describe(text))
          shown.append(h('p', { class: 'pinned-line' }, line));
      } catch (e) {
        shown.append(h('p', { class: 'error' }, `The pinned value is unusable: ${messageOf(e)}`));
      }
    };
    fileInput.addEventListener('change', async () => {
      const file = fileInput.files?.[0];
      if (file) textArea.value = await file.text();
    });
    byId(`${pin.name}-pin-button`).addEventListener('click', async () => {
      error.textContent = '';
      const text = textArea.value.trim();
      try {
        if (text === '') throw new Error('Paste it or pick its file first.');
        await pin.describe(text);
      } catch (e) {
        error.textContent = messageOf(e);
        return;
      }
      if (!pin.write(text)) {
        error.textContent = 'This browser refused to store it (local storage is disabled).';
        return;
      }
      textArea.value = '';
      fileInput.value = '';
      await show();
      say(`${pin.name === 'publisher' ? 'Publisher key' : 'Timestamp authority'} pinned.`);
      if (result) verify();
    });
    byId(`${pin.name}-forget`).addEventListener('click', async () => {
      pin.forget();
      await show();
      say('Forgotten.');
    });
    void show();
  }

  // --- Evidence ---------------------------------------------------------------------------
  const fileInput = byId<HTMLInputElement>('evidence-files');
  const evidenceError = byId('evidence-error');
  const list = byId('evidence-list');

  const showEvidence = () => {
    list.replaceChildren(
      ...(Object.entries(evidence) as [Slot, File][]).map(([slot, file]) =>
        h('li', {}, h('strong', {}, `${SLOT_WORDS[slot]}: `), file.name),
      ),
    );
    byId<HTMLButtonElement>('verify-button').disabled = !ready();
  };
  const ready = () => evidence.bundle !== undefined || evidence.receipts !== undefined;

  const addFiles = async (files: File[]) => {
    evidenceError.textContent = '';
    const notes: string[] = [];
    for (const classified of await Promise.all(files.map(classifyFile))) {
      const { file, role } = classified;
      if (role === undefined) {
        notes.push(`${file.name} cannot be used: ${classified.problem}.`);
      } else if (role === 'publisher' || role === 'tsa') {
        // A root of trust is pinned on purpose, never taken from a dropped file silently.
        byId<HTMLTextAreaElement>(`${role}-text`).value = await file.text();
        notes.push(
          `${file.name} looks like a ${role === 'publisher' ? 'publisher key' : 'timestamp authority certificate'}: it was put in the box under “Roots of trust”; check it, then press Pin.`,
        );
      } else {
        placeFile(role, file);
      }
    }
    const complete = evidence.bundle || (evidence.receipts && evidence.snapshot);
    if (!complete && evidence.receipts)
      notes.push('Now add the key snapshot the receipts name (their jwksSnapshotUrl).');
    evidenceError.textContent = notes.join(' ');
    showEvidence();
    if (complete) verify();
  };

  const placeFile = (role: Exclude<EvidenceRole, 'publisher' | 'tsa'>, file: File) => {
    // A bundle carries everything; loose receipts are verified with their own snapshot.
    if (role === 'bundle') {
      for (const slot of Object.keys(evidence) as Slot[]) delete evidence[slot];
    } else {
      delete evidence.bundle;
    }
    evidence[role] = file;
  };

  fileInput.addEventListener('change', () => {
    void addFiles([...(fileInput.files ?? [])]);
    fileInput.value = '';
  });
  const drop = byId('drop');
  // Anywhere on the page: a file dropped outside the box would otherwise replace the page.
  window.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  window.addEventListener('dragleave', () => drop.classList.remove('over'));
  window.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    void addFiles([...(event.dataTransfer?.files ?? [])]);
  });
  byId('clear-button').addEventListener('click', () => {
    for (const slot of Object.keys(evidence) as Slot[]) delete evidence[slot];
    evidenceError.textContent = '';
    showEvidence();
    say('Evidence cleared.');
  });
  byId('verify-button').addEventListener('click', () => verify());

  // --- One run ------------------------------------------------------------------------------
  const progressBox = byId('progress-box');
  const progress = byId<HTMLProgressElement>('progress');
  const progressText = byId('progress-text');

  function request(): VerifyRequest | string {
    const publisher = pinnedPublisher();
    const tsaTrust = pinnedTsaTrust();
    const trust = { ...(tsaTrust ? { tsaTrust } : {}) };
    if (evidence.bundle) {
      if (!publisher)
        return 'Pin the publisher key first (under “Roots of trust”): a bundle is verified against it.';
      return { type: 'bundle', bundle: evidence.bundle, publisher, ...trust };
    }
    if (!evidence.receipts) return 'Add a receipts file or a bundle.';
    if (!evidence.snapshot)
      return 'Add the key snapshot the receipts name (their jwksSnapshotUrl), e.g. snapshot.json.';
    return {
      type: 'receipts',
      receipts: evidence.receipts,
      snapshot: evidence.snapshot,
      ...(evidence.proof ? { proof: evidence.proof } : {}),
      ...(publisher ? { publisher } : {}),
      ...trust,
    };
  }

  function verify(): void {
    const asked = request();
    if (typeof asked === 'string') {
      evidenceError.textContent = asked;
      ended('error');
      return;
    }
    run?.cancel();
    // A report stays on screen only with the evidence it was made from.
    byId('report').hidden = true;
    evidenceError.textContent = '';
    progress.removeAttribute('value');
    progressText.textContent = '';
    progressBox.hidden = false;
    document.body.setAttribute('aria-busy', 'true');
    say('Verifying…');
    const current = startRun(scriptText, asked, ({ done, total, phase }) => {
      if (total > 0) {
        progress.max = total;
        progress.value = done;
      }
      progressText.textContent = `${phase}: ${done.toLocaleString('en')}${total ? ` of ${total.toLocaleString('en')}` : ''}`;
    });
    run = current;
    void current.done.then((outcome) => {
      if (run !== current) return;
      run = undefined;
      progressBox.hidden = true;
      document.body.removeAttribute('aria-busy');
      if (outcome.type === 'result') showResult(outcome.result);
      else if (outcome.type === 'cancelled') say('Cancelled. Nothing was verified.');
      else {
        evidenceError.textContent = outcome.message;
        say('Could not verify.');
      }
      ended(outcome.type);
    });
  }
  /** For whoever watches the page (its tests): how many runs ended, and how the last did. */
  function ended(outcome: string): void {
    document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1);
    document.body.dataset.outcome = outcome;
  }
  byId('cancel-button').addEventListener('click', () => run?.cancel());

  // --- The report -----------------------------------------------------------------------
  const report = byId('report');
  const reportBody = byId('report-body');

  function showResult(shown: PageResult): void {
    result = shown;
    // The verdict first, then what can be done with the report, then the report itself.
    const [verdict, ...rest] = renderReport(shown);
    reportBody.replaceChildren(...(verdict ? [verdict] : []), byId('report-actions'), ...rest);
    report.hidden = false;
    const word = byId('verdict-word');
    say(`Verdict: ${word.textContent}`);
    word.focus();
    word.scrollIntoView({ block: 'start' });
  }

  byId('export-button').addEventListener('click', () => {
    if (!result) return;
    const link = h('a', {
      href: URL.createObjectURL(result.report),
      download: 'quittance-report.json',
    });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  });
  byId('print-button').addEventListener('click', () => window.print());
  // Printed, every receipt is unfolded; afterwards they fold back as they were.
  let folded: HTMLDetailsElement[] = [];
  window.addEventListener('beforeprint', () => {
    folded = [...document.querySelectorAll<HTMLDetailsElement>('details:not([open])')];
    for (const details of folded) details.open = true;
  });
  window.addEventListener('afterprint', () => {
    for (const details of folded) details.open = false;
    folded = [];
  });
  showEvidence();
  document.documentElement.dataset.ready = 'true';
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

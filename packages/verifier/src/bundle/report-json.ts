import type { ReceiptReport } from '../claims';
import type { BundleVerification } from './verify-bundle';

/**
 * The `--json` document of `quittance verify BUNDLE.zip`, written as the receipts are
 * verified so that memory does not grow with the bundle: the command line writes it to
 * stdout, the verifier page into its download, the same bytes.
 */
export class BundleReportJson {
  #opened = false;
  #receipts = 0;

  constructor(private readonly write: (text: string) => void) {}

  receipt(report: ReceiptReport): void {
    this.#open();
    this.write(`${this.#receipts++ ? ',' : ''}\n${JSON.stringify(report)}`);
  }

  /** SPEC §10's members, and what kind of bundle it was (an evidence bundle names its order). */
  end(result: Pick<BundleVerification, 'claims' | 'kind' | 'orderId' | 'ok'>): void {
    this.#open();
    const bundle = JSON.stringify({ kind: result.kind, orderId: result.orderId });
    this.write(
      `\n],"claims":${JSON.stringify(result.claims)},"bundle":${bundle},"ok":${result.ok}}\n`,
    );
  }

  /** Stopped half-way: whatever was written is closed, so the output stays one document. */
  abort(message: string): void {
    if (this.#opened)
      this.write(`\n],"claims":{},"ok":false,"error":${JSON.stringify(message)}}\n`);
  }

  #open(): void {
    if (!this.#opened) this.write('{"receipts":[');
    this.#opened = true;
  }
}

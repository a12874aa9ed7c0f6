import type { BundleContents, Line } from './contents';
import { ProblemList } from './json';
import { MAX_UNUSABLE_LINES, unusableLines } from './limits';

/** A line of a JSON Lines file that runs alongside receipts.jsonl, naming a receipt. */
export interface CursorItem {
  n: number;
  id?: string;
  /** Why the line is not usable evidence (applies to the receipt `id`, or to the file). */
  problem?: string;
}

/**
 * A JSON Lines file read alongside receipts.jsonl (bodies.jsonl, proofs.jsonl): both are in
 * chain order, so each receipt takes the next line when that line names it. A line that names
 * a receipt already passed (repeated, or out of order), or that names none, is a problem of
 * the file as a whole.
 */
export class LineCursor<T extends CursorItem> {
  readonly #lines: AsyncIterator<Line>;
  #next: T | undefined;
  #done = false;
  readonly problems = new ProblemList();
  /** Lines that belonged to a receipt. */
  matched = 0;
  readonly #unusableLines: () => string | undefined;

  constructor(
    contents: BundleContents,
    private readonly file: string,
    maxLine: number,
    private readonly toItem: (line: Line) => T,
    /** Ids of the receipts read so far. */
    private readonly seenIds: ReadonlySet<string>,
    /** What "the next receipt" has, in the reason: " with bodies". */
    private readonly which: string,
  ) {
    this.#lines = contents.lines(file, maxLine)[Symbol.asyncIterator]();
    this.#unusableLines = unusableLines(file, 'the line of a receipt');
  }

  async #peek(): Promise<T | undefined> {
    if (this.#next || this.#done) return this.#next;
    const next = await this.#lines.next();
    if (next.done) {
      this.#done = true;
      return undefined;
    }
    this.#next = this.toItem(next.value);
    return this.#next;
  }

  /** A line that is no receipt's; past {@link MAX_UNUSABLE_LINES} the rest is not read. */
  #unusable(problem: string): void {
    this.#next = undefined;
    const stop = this.#unusableLines();
    if (!stop) {
      this.problems.push(problem);
      return;
    }
    this.problems.stop(stop);
    this.#done = true;
    void this.#lines.return?.();
  }

  /** The line of receipt `id`, when the next line is its. */
  async of(id: string): Promise<T | undefined> {
    for (let item = await this.#peek(); item; item = await this.#peek()) {
      if (item.id === id) {
        this.#next = undefined;
        this.matched++;
        return item;
      }
      if (item.id !== undefined && !this.seenIds.has(item.id)) return undefined; // a later receipt's
      this.#unusable(
        item.id === undefined
          ? `${this.file} line ${item.n} ${item.problem}`
          : `${this.file} line ${item.n} names ${item.id}, which is not the next receipt${this.which} (repeated or out of chain order)`,
      );
    }
    return undefined;
  }

  /** Lines left after the last receipt name no receipt of the bundle. */
  async finish(): Promise<void> {
    for (let item = await this.#peek(); item; item = await this.#peek()) {
      this.#unusable(
        item.id === undefined
          ? `${this.file} line ${item.n} ${item.problem}`
          : `${this.file} line ${item.n} names ${item.id}, which is not a receipt of the bundle in chain order`,
      );
    }
  }
}

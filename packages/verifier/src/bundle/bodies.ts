import { asserted, type Claim, refuted } from '../claims';
import { type BundleContents, type Line, parseLine } from './contents';
import { isJsonObject, ProblemList } from './json';
import { FILES } from './layout';
import { LINE_BYTES } from './limits';
import { type CursorItem, LineCursor } from './line-cursor';

/** A bodies.jsonl line, with the receipt it names when it names one. */
export interface BodyItem extends CursorItem {
  bodies?: { input?: unknown; output?: unknown };
}

/**
 * bodies.jsonl (SPEC §9): one line per receipt with disclosed bodies, in chain order. Each
 * receipt's body_matches checks its line's hashes; the file's own problems (lines out of order,
 * naming no receipt, not JSON) and the manifest's count make the bundle's body_matches.
 */
export class BodyCursor extends LineCursor<BodyItem> {
  constructor(contents: BundleContents, seenIds: ReadonlySet<string>) {
    super(contents, FILES.bodies, LINE_BYTES.bodies, toBodyItem, seenIds, ' with bodies');
  }

  /** body_matches of the bundle, once every receipt was read and {@link finish} ran. */
  claim(manifest: { counts: { bodies?: number } } | undefined): Claim {
    const problems = new ProblemList();
    problems.append(this.problems);
    if (manifest?.counts.bodies !== undefined && manifest.counts.bodies !== this.matched)
      problems.push(
        `manifest counts ${manifest.counts.bodies} disclosed bodies, ${this.matched} lines of bodies.jsonl belong to a receipt`,
      );
    return problems.count
      ? refuted(problems.listed(5))
      : asserted(
          `each of the ${this.matched} lines of bodies.jsonl belongs to a receipt, in chain order; each receipt's claim checks its hashes`,
        );
  }
}

function toBodyItem(line: Line): BodyItem {
  const parsed = parseLine(line);
  if (!parsed.ok) return { n: line.n, problem: parsed.problem };
  const value = parsed.value;
  if (!isJsonObject(value) || typeof value.id !== 'string')
    return { n: line.n, problem: 'is not an object with a string id' };
  const missing = (['input', 'output'] as const).filter((kind) => !Object.hasOwn(value, kind));
  if (missing.length)
    return {
      n: line.n,
      id: value.id,
      problem: `its line in bodies.jsonl (line ${line.n}) has no ${missing.join(' and ')}`,
    };
  return { n: line.n, id: value.id, bodies: { input: value.input, output: value.output } };
}

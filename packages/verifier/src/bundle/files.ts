import { asserted, type Claim, refuted } from '../claims';
import type { EntryDigest } from './contents';
import { listed } from './json';
import type { ManifestFile } from './layout';

/**
 * files_intact: every file the manifest lists is in the zip with its size and SHA-256, and the
 * zip holds nothing else (but the manifest and its signature), each name once, with local
 * headers that agree with the central directory.
 */
export function checkFiles(input: {
  /** Size and SHA-256 of every entry, as read. */
  read: ReadonlyMap<string, EntryDigest>;
  /** Every name in the zip. */
  names: readonly string[];
  /** Names exempt from the manifest's list: manifest.json and manifest.jws. */
  unlisted: readonly string[];
  /** The signed manifest's files, or why there is no usable manifest. */
  manifest: { files: readonly ManifestFile[] } | { problem: string };
  duplicates: readonly string[];
  disagreements: readonly string[];
}): Claim {
  const problems: string[] = [];
  const files = 'files' in input.manifest ? input.manifest.files : [];
  const listedFiles = new Map(files.map((f) => [f.path, f]));
  if (listedFiles.size !== files.length) problems.push('the manifest lists a file twice');
  for (const [path, expected] of listedFiles) {
    const got = input.read.get(path);
    if (!got) problems.push(`${path} is listed but missing`);
    else if (got.bytes !== expected.bytes || got.sha256 !== expected.sha256)
      problems.push(`${path} does not match its SHA-256`);
  }
  for (const name of input.names)
    if (!input.unlisted.includes(name) && !listedFiles.has(name))
      problems.push(`${name} is not in the manifest`);
  if ('problem' in input.manifest)
    problems.unshift(`no usable manifest: ${input.manifest.problem}`);
  for (const name of new Set(input.duplicates))
    problems.unshift(`${name} occurs more than once in the zip`);
  for (const disagreement of input.disagreements)
    problems.unshift(`${disagreement} (zip tools would disagree on what the bundle holds)`);
  return problems.length
    ? refuted(listed(problems, 10))
    : asserted(
        `all ${listedFiles.size} files match their size and SHA-256 in the manifest; none added`,
      );
}

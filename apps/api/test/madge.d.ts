// The part of madge's API (https://github.com/pahen/madge) the architecture test uses; the
// package ships no types.
declare module 'madge' {
  interface MadgeResult {
    /** Each file and the files it imports, relative to `baseDir`. */
    obj(): Record<string, string[]>;
    /** Every import cycle, as the files on it. */
    circular(): string[][];
  }
  interface MadgeConfig {
    baseDir?: string;
    fileExtensions?: string[];
    tsConfig?: string;
    excludeRegExp?: RegExp[];
  }
  export default function madge(
    paths: string | string[],
    config?: MadgeConfig,
  ): Promise<MadgeResult>;
}

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

const pageDir = join(import.meta.dirname, 'page');

export interface BuiltPage {
  html: string;
  /** Bytes of the page and of its script, for the build's one-line summary. */
  bytes: number;
  scriptBytes: number;
}

/**
 * The verifier page as one self-contained HTML file: the verifier's own code bundled for
 * browsers (WebCrypto Ed25519 and SHA-256 through the packages' `default` conditions), inlined
 * with the stylesheet under a Content-Security-Policy that allows exactly these two inline
 * blocks (by hash), Blob URL workers (the same script runs the verification off the page's
 * thread) and no connection at all.
 */
export async function buildVerifierPage(): Promise<BuiltPage> {
  const bundled = await build({
    entryPoints: [join(pageDir, 'entry.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['chrome137', 'firefox129', 'safari17'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    charset: 'utf8',
  });
  const script = bundled.outputFiles[0]?.text ?? '';
  // esbuild escapes these inside strings; a bare one would end the inline block early.
  if (/<\/script|<!--/i.test(script))
    throw new Error('the bundled script contains </script or <!--');
  const css = await readFile(join(pageDir, 'styles.css'), 'utf8');
  const template = await readFile(join(pageDir, 'page.html'), 'utf8');
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(script)}'`,
    `style-src '${sha256(css)}'`,
    'worker-src blob:',
    "connect-src 'none'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  // Placeholders that keep page.html valid HTML, CSS and JavaScript for the linter.
  const html = fill(template, { '%CSP%': csp, '/*CSS*/': css, '/*SCRIPT*/': script });
  return { html, bytes: Buffer.byteLength(html), scriptBytes: Buffer.byteLength(script) };
}

const sha256 = (text: string) => `sha256-${createHash('sha256').update(text).digest('base64')}`;

/** Replaces each placeholder once; values are inserted as they are (no `$` patterns). */
function fill(template: string, values: Record<string, string>): string {
  let out = template;
  for (const [placeholder, value] of Object.entries(values)) {
    const at = out.indexOf(placeholder);
    if (at < 0) throw new Error(`page.html has no ${placeholder}`);
    out = out.slice(0, at) + value + out.slice(at + placeholder.length);
  }
  return out;
}

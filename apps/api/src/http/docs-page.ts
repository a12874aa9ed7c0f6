import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { withExamples } from './openapi-examples';
import { PROBLEMS } from './problem';

// /docs: the OpenAPI document rendered by Swagger UI (swagger-ui-dist), its script and
// stylesheet inlined from node_modules so that the page needs no network, and a table of the
// problem codes, each with the anchor that problem+json `type` links point at.

interface SwaggerAssets {
  script: string;
  css: string;
  scriptHash: string;
}

let assets: SwaggerAssets | undefined;

/** swagger-ui-dist's standalone bundle and stylesheet, read once per process. */
function swaggerAssets(): SwaggerAssets {
  if (assets) return assets;
  const folder = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const script = readFileSync(join(folder, 'swagger-ui-bundle.js'), 'utf8');
  // The map is not served: the comment would only make browsers ask for it.
  const css = readFileSync(join(folder, 'swagger-ui.css'), 'utf8').replace(
    /\/\*# sourceMappingURL=[^*]*\*\/\s*$/,
    '',
  );
  assets = { script, css, scriptHash: sha256(script) };
  return assets;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/** JSON inside a `<script type="application/json">` block: `<` can never close the block. */
const jsonForScript = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

const INIT = `window.ui = SwaggerUIBundle({
  spec: JSON.parse(document.getElementById('openapi').textContent),
  dom_id: '#swagger-ui',
  deepLinking: true,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  defaultModelRendering: 'example',
  showExtensions: false,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout'
});`;

/**
 * The docs page for an OpenAPI document (enriched with {@link withExamples}). The app renders
 * it once per public URL (app.ts), so it is not cached here.
 */
export function renderDocsPage(document: { info: { title: string } }): string {
  return render(withExamples(document) as { info: { title: string } });
}

function render(document: { info: { title: string } }): string {
  const { script, css, scriptHash } = swaggerAssets();
  // Try-it-out calls go to this server only; images are the stylesheet's data: icons.
  const csp = [
    "default-src 'none'",
    `script-src ${scriptHash} ${sha256(INIT)}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const problems = Object.entries(PROBLEMS)
    .map(
      ([code, p]) =>
        `<tr id="problem-${code}"><td><code>${code}</code></td><td>${p.status}</td><td>${escapeHtml(p.title)}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(document.info.title)}</title>
<style>${css}</style>
<style>.problems{max-width:1460px;margin:0 auto 3rem;padding:0 20px;font-family:sans-serif;color:#3b4151}
.problems td,.problems th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.problems :target{background:#fff5cc}</style>
</head><body>
<div id="swagger-ui"></div>
<section class="problems" aria-labelledby="problems">
<h2 id="problems">Problem codes</h2>
<p>Every error is <code>application/problem+json</code> (RFC 9457) with a stable <code>code</code>;
its <code>type</code> links to the code's row here. Machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>
<table><thead><tr><th scope="col">code</th><th scope="col">status</th><th scope="col">meaning</th></tr></thead>
<tbody>${problems}</tbody></table>
</section>
<script id="openapi" type="application/json">${jsonForScript(document)}</script>
<script>${script}</script>
<script>${INIT}</script>
</body></html>`;
}

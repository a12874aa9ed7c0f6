import { PROBLEMS } from './problem';

interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
}
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, unknown>[];
  parameters?: {
    name: string;
    in: string;
    required?: boolean;
    schema?: unknown;
    description?: string;
  }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { description: string }>;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/**
 * A self-contained, browsable page rendered from the OpenAPI document: no scripts, no CDN,
 * so it works on a machine without network. Problem codes have anchors (`/docs#problem-x`).
 */
export function renderDocsPage(document: OpenApiDocument): string {
  const sections: string[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const auth = op.security?.length ? Object.keys(op.security[0] as object).join(', ') : 'none';
      const params = (op.parameters ?? [])
        .map(
          (p) =>
            `<li><code>${escapeHtml(p.name)}</code> (${p.in}${p.required ? ', required' : ''})${p.description ? ` ${escapeHtml(p.description)}` : ''}</li>`,
        )
        .join('');
      const body = op.requestBody?.content['application/json']?.schema;
      const responses = Object.entries(op.responses)
        .map(([status, r]) => `<li><b>${status}</b> ${escapeHtml(r.description)}</li>`)
        .join('');
      sections.push(`<section id="${escapeHtml(`${method}-${path}`)}">
<h3><span class="m">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>
<p>${escapeHtml(op.summary ?? '')}</p>${op.description ? `<p>${escapeHtml(op.description)}</p>` : ''}
<p>Auth: <code>${escapeHtml(auth)}</code></p>
${params ? `<h4>Parameters</h4><ul>${params}</ul>` : ''}
${body ? `<h4>Request body</h4><pre>${escapeHtml(JSON.stringify(body, null, 2))}</pre>` : ''}
<h4>Responses</h4><ul>${responses}</ul></section>`);
    }
  }
  const problems = Object.entries(PROBLEMS)
    .map(
      ([code, p]) =>
        `<tr id="problem-${code}"><td><code>${code}</code></td><td>${p.status}</td><td>${escapeHtml(p.title)}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
pre{background:#f5f5f5;padding:.5rem;overflow:auto;font-size:12px}.m{background:#222;color:#fff;padding:0 .4rem;border-radius:3px}
section{border-top:1px solid #ddd;margin-top:1rem}td{padding:.2rem .6rem;border-bottom:1px solid #eee}</style></head><body>
<h1>${escapeHtml(document.info.title)} <small>${escapeHtml(document.info.version)}</small></h1>
<p>${escapeHtml(document.info.description ?? '')}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
<h2>Endpoints</h2>${sections.join('\n')}
<h2 id="problems">Problem codes</h2><p>Errors are <code>application/problem+json</code> (RFC 9457) with a stable <code>code</code>.</p>
<table><tr><th>code</th><th>status</th><th>meaning</th></tr>${problems}</table></body></html>`;
}

import { createHash } from 'node:crypto';

/**
 * GET /docs: the OpenAPI document rendered on the server as one static HTML page. No script, no CDN: the
 * page is readable with JavaScript off, and its Content-Security-Policy allows nothing but its own inline
 * stylesheet (by hash). Schemas are shown as JSON in collapsible <details>.
 */

type JsonObject = Record<string, unknown>;

const style = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
header,main{max-width:980px;margin:0 auto;padding:0 20px}
header{padding-top:24px}
h1{margin:0 0 4px}
h2{margin-top:36px;border-bottom:1px solid #d0d7de;padding-bottom:4px;text-transform:capitalize}
.op{border:1px solid #d0d7de;border-radius:6px;margin:12px 0;padding:10px 14px}
.op h3{margin:0;font-size:15px;font-family:ui-monospace,monospace;word-break:break-all}
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:1px 6px;margin-right:8px}
.get{background:#1f6feb}.post{background:#1a7f37}.put{background:#9a6700}.patch{background:#8250df}.delete{background:#cf222e}
.auth{font-size:13px;color:#57606a}
code,pre{font-family:ui-monospace,monospace;font-size:12.5px}
pre{background:#f6f8fa;padding:8px;border-radius:4px;overflow:auto;max-height:420px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
summary{cursor:pointer}
`.trim();

/** `style-src 'sha256-…'` lets exactly this stylesheet in. */
export const docsPageCsp = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escape(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Inline `code` spans and paragraphs, nothing more: descriptions come from our own contracts. */
function prose(text: unknown): string {
  if (typeof text !== 'string' || !text) return '';
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${escape(p).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>`)
    .join('');
}

function schemaBlock(label: string, schema: unknown): string {
  return `<details><summary>${escape(label)}</summary><pre>${escape(JSON.stringify(schema, null, 2))}</pre></details>`;
}

function renderOperation(method: string, path: string, op: JsonObject): string {
  const security = (op.security as Record<string, string[]>[] | undefined) ?? [];
  const scopes = security.flatMap((s) => Object.values(s).flat());
  const parameters = (op.parameters as JsonObject[] | undefined) ?? [];
  const body = (op.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined)?.content;
  const responses = (op.responses as Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>) ?? {};
  const parts = [
    `<section class="op" id="${escape(op.operationId)}">`,
    `<h3><span class="m ${escape(method)}">${escape(method.toUpperCase())}</span>${escape(path)}</h3>`,
    `<div>${escape(op.summary)}</div>`,
    `<div class="auth">${scopes.length ? `scopes (any one): ${scopes.map((s) => `<code>${escape(s)}</code>`).join(' ')}` : 'public'}</div>`,
    prose(op.description),
  ];
  if (parameters.length) {
    parts.push(
      '<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>',
      ...parameters.map((p) => `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${escape(JSON.stringify(p.schema))}</code></td></tr>`),
      '</table>',
    );
  }
  for (const [mediaType, media] of Object.entries(body ?? {})) parts.push(schemaBlock(`request body (${mediaType})`, media.schema));
  for (const [status, response] of Object.entries(responses)) {
    const media = Object.entries(response.content ?? {})[0];
    parts.push(media ? schemaBlock(`${status}: ${response.description ?? ''}`, media[1].schema) : `<div>${escape(status)}: ${escape(response.description)}</div>`);
  }
  parts.push('</section>');
  return parts.join('\n');
}

/** The page for one OpenAPI document. */
export function renderDocsPage(doc: JsonObject): string {
  const info = (doc.info as { title?: string; version?: string; description?: string }) ?? {};
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries((doc.paths as Record<string, Record<string, JsonObject>>) ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = String((op.tags as string[] | undefined)?.[0] ?? 'other');
      byTag.set(tag, [...(byTag.get(tag) ?? []), renderOperation(method, path, op)]);
    }
  }
  const sections = [...byTag].map(([tag, ops]) => `<h2 id="tag-${escape(tag)}">${escape(tag)}</h2>\n${ops.join('\n')}`);
  const components = (doc.components as { schemas?: Record<string, unknown> } | undefined)?.schemas ?? {};
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(info.title)} API ${escape(info.version)}</title>
<style>${style}</style></head>
<body><header><h1>${escape(info.title)} API <small>${escape(info.version)}</small></h1>
${prose(info.description)}
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI ${escape(doc.openapi)}). Sections: ${[...byTag.keys()].map((t) => `<a href="#tag-${escape(t)}">${escape(t)}</a>`).join(' · ')}</p></header>
<main>
${sections.join('\n')}
<h2 id="schemas">shared schemas</h2>
${Object.entries(components).map(([name, schema]) => schemaBlock(name, schema)).join('\n')}
</main></body></html>
`;
}

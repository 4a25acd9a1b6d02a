/**
 * The endpoint's pages: plain HTML, one inline style allowed by its hash, no script, no third-party asset, nothing
 * cached, no Referer sent onwards (the link URL carries its token; the provider must not see it).
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5;color:#111}' +
  'h1{font-size:1.4em}.ok{color:#0a6b2d}.fail{color:#a4161a}.skip{color:#555}li{margin:.3em 0}' +
  'button{font-size:1.1em;padding:.6em 1.2em;border-radius:.3em;border:1px solid #0b57d0;background:#0b57d0;color:#fff}' +
  'code{background:#f1f1f1;padding:0 .2em}';
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/**
 * default-src 'none' forbids every fetch; the one style is allowed by hash; forms may post only to this endpoint and
 * their redirect only to the provider's sign-in origin (Chromium checks form-action on the redirect too).
 */
export function contentSecurityPolicy(formTargets: string[] = []): string {
  const form = ["'self'", ...formTargets].join(' ');
  return `default-src 'none'; style-src ${STYLE_HASH}; img-src 'none'; form-action ${form}; frame-ancestors 'none'; base-uri 'none'`;
}

export const SECURITY_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'strict-transport-security': 'max-age=63072000',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function htmlResponse(
  status: number,
  title: string,
  bodyHtml: string,
  o: { formTargets?: string[] } = {},
): APIGatewayProxyStructuredResultV2 {
  const body =
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><h1>${escapeHtml(title)}</h1>${bodyHtml}</body></html>`;
  return {
    statusCode: status,
    headers: {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': contentSecurityPolicy(o.formTargets),
    },
    body,
  };
}

/** The redirect to the provider: no body, and the same headers (the Location carries the state, nothing else secret). */
export function redirectResponse(location: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 303,
    headers: { ...SECURITY_HEADERS, location, 'content-security-policy': contentSecurityPolicy() },
    body: '',
  };
}

export function notFound(): APIGatewayProxyStructuredResultV2 {
  return htmlResponse(404, 'Not found', '<p>There is nothing here.</p>');
}

export const p = (text: string) => `<p>${escapeHtml(text)}</p>`;

/** A refusal: what happened, that nothing was stored, and what to do. */
export function refusalPage(
  status: number,
  title: string,
  what: string,
  todo: string,
): APIGatewayProxyStructuredResultV2 {
  return htmlResponse(
    status,
    title,
    `${p(what)}<p><strong>Nothing was stored.</strong></p><h2>What to do</h2>${p(todo)}`,
  );
}

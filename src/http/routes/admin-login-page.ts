/** The operators' sign-in page of the queue dashboard: static markup, no script, no outside assets. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Nothing on the page may load or run anything, and the form may post only back here. */
export const LOGIN_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

export function loginPage(action: string, message?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Keycord · queues</title>
<style>body{font:15px system-ui,sans-serif;background:#f4f5f7;display:grid;place-items:center;min-height:100vh;margin:0}
form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;display:grid;gap:.8rem;min-width:18rem}
input,button{font:inherit;padding:.5rem}.error{color:#b00020}</style></head>
<body><form method="post" action="${escapeHtml(action)}">
<h1>Keycord queues</h1>
<p>Sign in with an operator account (KEYCORD_OPERATORS).</p>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<label>Email or username <input name="login" autocomplete="username" required maxlength="254"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<button type="submit">Sign in</button>
</form></body></html>`;
}

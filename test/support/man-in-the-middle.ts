/** The client's request as a man in the middle sees it on its way to the server. */
export type Outgoing = { url: URL; headers: Record<string, string>; body: Record<string, unknown> | undefined };

/**
 * A `fetch` for the SDK standing in for a man in the middle: it rewrites the client's request
 * before passing it on to the real server (keeping whatever it does not touch, the nonce included)
 * and hands back the real, signed answer.
 */
export const rewriting =
  (change: (request: Outgoing) => void): typeof fetch =>
  async (input, init) => {
    const request: Outgoing = {
      url: new URL(String(input)),
      headers: { ...(init?.headers as Record<string, string>) },
      body: init?.body === undefined ? undefined : (JSON.parse(String(init.body)) as Record<string, unknown>),
    };
    change(request);
    return fetch(request.url, { ...init, headers: request.headers, ...(request.body ? { body: JSON.stringify(request.body) } : {}) });
  };

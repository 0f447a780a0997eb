import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { badRequest } from '../errors.js';

/**
 * Addresses a webhook may reach unless the operator allows private ones: ordinary unicast only.
 * ipaddr.js names every special range (loopback, private, link-local where cloud metadata lives,
 * CGNAT, benchmarking, NAT64 and 6to4 prefixes that embed an IPv4 address, site-local, mapped and
 * compatible IPv4, multicast, reserved…), so anything it does not call `unicast` is refused —
 * a list kept by hand missed some of these. Checked when a webhook is saved and again on every
 * connection, so a DNS change cannot sneak past.
 */
export function isPrivateAddress(address: string): boolean {
  // node:net's parser is the one the connection will use; ipaddr.js alone accepts forms like 0x7f.1.
  if (!isIP(address)) return true;
  try {
    const parsed = ipaddr.parse(address);
    // IPv4-compatible addresses (::/96, deprecated) reach IPv4 hosts on some stacks; ipaddr.js
    // calls `::7f00:1` unicast although it is `::127.0.0.1`, so the whole prefix is refused here.
    if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0)) return true;
    return parsed.range() !== 'unicast';
  } catch {
    return true;
  }
}

function parseWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest('url is not a valid URL', 'VALIDATION_ERROR', [{ path: 'url', message: 'invalid URL' }]);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw badRequest('url must be http or https', 'VALIDATION_ERROR', [{ path: 'url', message: 'unsupported scheme' }]);
  }
  if (url.username || url.password) {
    throw badRequest('url must not carry credentials', 'VALIDATION_ERROR', [{ path: 'url', message: 'credentials in URL' }]);
  }
  return url;
}

/** Refuses a URL whose host resolves to a private address (unless allowed). */
export async function assertPublicWebhookUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  const url = parseWebhookUrl(raw);
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    throw badRequest(`url host ${host} does not resolve`, 'WEBHOOK_URL_UNRESOLVABLE');
  }
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) {
    throw badRequest('url resolves to a private, loopback or link-local address', 'WEBHOOK_URL_PRIVATE');
  }
  return url;
}

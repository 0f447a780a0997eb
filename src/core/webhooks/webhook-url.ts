import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { badRequest } from '../errors.js';

/**
 * Addresses a webhook may never reach unless the operator allows it: loopback, private ranges,
 * link-local (cloud metadata lives there), CGNAT, unspecified and multicast. Checked when a
 * webhook is saved and again on every connection, so a DNS change cannot sneak past.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

export function parseWebhookUrl(raw: string): URL {
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

/**
 * A DATABASE_URL or REDIS_URL read as a URL. A Postgres URL may list several hosts
 * (`postgres://u:p@db1:5432,db2:5432/db`, which postgres.js fails over between) and WHATWG URL
 * refuses that form: as postgres.js does, the first host stands for them while the URL is read,
 * and `hosts` keeps them all. Throws as `new URL` does on anything else it cannot read.
 */
export function readConnectionUrl(value: string): { url: URL; hosts: string[] } {
  const authority = value.slice(value.indexOf('://') + 3).split(/[?/]/)[0] ?? '';
  const hostList = authority.slice(authority.indexOf('@') + 1);
  const hosts = hostList.split(',');
  const url = new URL(hosts.length > 1 ? value.replace(hostList, hosts[0]!) : value);
  return { url, hosts: hosts.length > 1 ? hosts : [url.host] };
}

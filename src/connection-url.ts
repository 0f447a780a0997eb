/**
 * A DATABASE_URL or REDIS_URL read as a URL. A Postgres URL may list several hosts
 * (`postgres://u:p@db1:5432,db2:5432/db`, which postgres.js fails over between) and WHATWG URL
 * refuses that form: the first host stands for them while the URL is read, and `hosts` keeps
 * them all. The user name and password end at the last `@` before the host, as WHATWG URL and
 * ioredis read them, so no part of a password is ever taken for a host (and logged as one); a
 * Postgres URL with an unencoded `@` in them is refused, as postgres.js would read it otherwise.
 * Throws as `new URL` does on anything it cannot read.
 */
export function readConnectionUrl(value: string): { url: URL; hosts: string[] } {
  const schemeEnd = value.indexOf('://') + 3;
  const rest = value.slice(schemeEnd);
  const authorityLength = rest.search(/[?/#]/);
  const authority = authorityLength === -1 ? rest : rest.slice(0, authorityLength);
  const userInfo = authority.slice(0, authority.lastIndexOf('@') + 1);
  const hostList = authority.slice(userInfo.length);
  const postgresUrl = /^postgres(ql)?:\/\//.test(value);
  // postgres.js reads the host (list) from the first `@`: an unencoded one in the password would
  // put the rest of the password among the hosts — connected to, and logged in its connection
  // error — so such a URL is not one it can use, with one host or several.
  if (postgresUrl && userInfo.slice(0, -1).includes('@')) throw new TypeError('an unencoded @ in the user name or password of a Postgres URL');
  const hosts = postgresUrl ? hostList.split(',') : [hostList];
  if (hosts.length === 1) {
    const url = new URL(value);
    return { url, hosts: [url.host] };
  }
  const url = new URL(value.slice(0, schemeEnd) + userInfo + hosts[0] + rest.slice(authority.length));
  return { url, hosts };
}

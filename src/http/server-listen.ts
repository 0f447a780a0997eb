import type { FastifyInstance } from 'fastify';

/** Where the API listens: PORT and HOST from the configuration. */
export interface ListenAddress {
  port: number;
  host: string;
}

/** Why the API cannot listen where the configuration says, by the error code Node gives. */
const REASONS = {
  EADDRINUSE: 'in use',
  EACCES: 'not permitted',
  // HOST is an address, but none of this machine's (a copied configuration, a changed network).
  EADDRNOTAVAIL: 'not an address here',
  // HOST is a name that does not resolve (a typo, or DNS not up yet).
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
} as const;
type Reason = (typeof REASONS)[keyof typeof REASONS];

/**
 * The API cannot listen on HOST:PORT: another process holds the port (EADDRINUSE), it is a
 * privileged port this process may not bind (EACCES), HOST is no address of this machine
 * (EADDRNOTAVAIL) or a name that does not resolve (ENOTFOUND). Each is the operator's to change,
 * so start-up says which and how in one line instead of a stack trace.
 */
export class PortUnavailableError extends Error {
  constructor(
    readonly address: ListenAddress,
    readonly reason: Reason,
    cause: unknown,
  ) {
    super(MESSAGES[reason](address), { cause });
    this.name = 'PortUnavailableError';
  }
}

/** `app.listen`, with the refusals an operator fixes in the configuration made a PortUnavailableError. */
export async function listenOn(app: FastifyInstance, address: ListenAddress): Promise<string> {
  try {
    return await app.listen(address);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== undefined && Object.hasOwn(REASONS, code)) throw new PortUnavailableError(address, REASONS[code as keyof typeof REASONS], err);
    throw err;
  }
}

function inUse(address: ListenAddress): string {
  return `Cannot listen on ${hostPort(address)}: the port is in use by another process. Set PORT to a free port, or stop the other process.`;
}

function notPermitted(address: ListenAddress): string {
  const where = `Cannot listen on ${hostPort(address)}: permission denied`;
  if (address.port < 1024) {
    return `${where} (ports below 1024 need root or CAP_NET_BIND_SERVICE). Set PORT to 1024 or above and forward port ${address.port} to it (a reverse proxy, docker -p ${address.port}:3000).`;
  }
  // Above 1024 a security policy refuses it (SELinux, a range Windows reserves): another port still works.
  return `${where} (the system keeps that port from this process). Set PORT to another port.`;
}

function notAnAddressHere(address: ListenAddress): string {
  return `Cannot listen on ${hostPort(address)}: ${address.host} is not an address of this machine. Set HOST to one of its addresses, or to 0.0.0.0 (every IPv4 address) or :: (IPv6).`;
}

function unknownHost(address: ListenAddress): string {
  return `Cannot listen on ${hostPort(address)}: the host name ${address.host} does not resolve. Set HOST to an IP address of this machine, or to 0.0.0.0 (every IPv4 address).`;
}

const MESSAGES: Record<Reason, (address: ListenAddress) => string> = {
  'in use': inUse,
  'not permitted': notPermitted,
  'not an address here': notAnAddressHere,
  'unknown host': unknownHost,
};

/** 127.0.0.1:3000, [::1]:3000: as the address would be written in a URL. */
function hostPort({ host, port }: ListenAddress): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

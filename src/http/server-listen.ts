import type { FastifyInstance } from 'fastify';

/** Where the API listens: PORT and HOST from the configuration. */
export interface ListenAddress {
  port: number;
  host: string;
}

/**
 * PORT cannot be had on HOST: another process holds it (EADDRINUSE), or it is a privileged port
 * this process may not bind (EACCES). Both are the operator's to change, so start-up says which
 * and how in one line instead of a stack trace.
 */
export class PortUnavailableError extends Error {
  constructor(
    readonly address: ListenAddress,
    readonly reason: 'in use' | 'not permitted',
    cause: unknown,
  ) {
    super(reason === 'in use' ? inUse(address) : notPermitted(address), { cause });
    this.name = 'PortUnavailableError';
  }
}

/** `app.listen`, with the refusals an operator fixes in the configuration made a PortUnavailableError. */
export async function listenOn(app: FastifyInstance, address: ListenAddress): Promise<string> {
  try {
    return await app.listen(address);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new PortUnavailableError(address, 'in use', err);
    if (code === 'EACCES') throw new PortUnavailableError(address, 'not permitted', err);
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

/** 127.0.0.1:3000, [::1]:3000: as the address would be written in a URL. */
function hostPort({ host, port }: ListenAddress): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

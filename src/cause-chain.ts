/**
 * `err` and the errors of its `cause` chain, outermost first: drizzle wraps the driver's error as
 * the `cause` of its own. At most 8 deep, so a cycle or a runaway chain ends. Shared by the logger
 * (bound values to redact), the SQLSTATE reader and a failed job's error text.
 */
export function causeChain(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) chain.push(e);
  return chain;
}

/** Discord ids are snowflakes: 64-bit integers whose top 42 bits are ms since 2015-01-01 UTC. */
const DISCORD_EPOCH_MS = 1_420_070_400_000;
const MAX_SNOWFLAKE = (1n << 64n) - 1n;

/** When Discord made the thing with this id, or null when the value is not a snowflake at all. */
export function snowflakeTime(id: unknown): number | null {
  if (typeof id !== 'string' || !/^\d{1,20}$/.test(id)) return null;
  const n = BigInt(id);
  if (n > MAX_SNOWFLAKE) return null;
  return Number(n >> 22n) + DISCORD_EPOCH_MS;
}

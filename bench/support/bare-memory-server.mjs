// The memory floor bench/memory.ts compares Keycord with: Fastify and postgres.js, one route
// reading one row, nothing else. Plain JavaScript, run with and without tsx's loader, so the
// loader's own share shows apart from Keycord's.
import Fastify from 'fastify';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL, { max: 10, onnotice: () => {} });
const app = Fastify();
app.get('/api/health', async () => {
  const [row] = await sql`select 1 as ok`;
  return { status: row.ok === 1 ? 'ok' : 'down' };
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
const stop = async () => {
  await app.close();
  await sql.end({ timeout: 5 });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

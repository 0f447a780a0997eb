import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import type { Deps } from '../src/core/deps.js';
import { reportMissingBytes } from '../src/core/files/open-client-download.js';
import { licenses } from '../src/db/schema.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/log.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { multipart } from './support/multipart.js';
import { untilLockWaiters } from './support/wait.js';

/**
 * What the logs say when a file is deleted while customers download it: an expected race, told at
 * info level with the file id, never as an error; while a file whose bytes are gone with no delete
 * of it is still an error. Downloads go through an app logging into memory.
 */
let h: Harness;
let app: FastifyInstance;
let base: string;
const lines: string[] = [];
beforeAll(async () => {
  h = await startHarness();
  app = await buildApp({ ...h.deps, log: createLogger('debug', { write: (line: string) => void lines.push(line) }) });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app?.close();
  await h?.close();
});
beforeEach(() => {
  lines.length = 0;
});

type Entry = { level: number; msg?: string; fileId?: number };
const ERROR = 50;
const INFO = 30;
const entries = () => lines.map((l) => JSON.parse(l) as Entry);
const errors = () => entries().filter((e) => e.level >= ERROR);
const aboutFile = (fileId: number) => entries().filter((e) => e.fileId === fileId);

/** A file of a new application, and the query a customer with a fresh (not yet activated) key downloads it with. */
async function uploaded(s: Seller, size: number) {
  const { app: application, plan } = await s.setup();
  const [lic] = await s.generate(plan.id);
  const body = multipart([{ name: 'file', filename: 'tool.bin', data: randomBytes(size) }]);
  const up = await h.app.inject({ method: 'POST', url: `/api/applications/${application.id}/files`, payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${s.token}` } });
  expect(up.statusCode, up.body).toBe(201);
  const file = up.json() as { id: number; sha256: string };
  return { file, licenseId: lic!.id, query: new URLSearchParams({ app_id: application.app_id, license_key: lic!.license_key, hwid: 'PC-1' }) };
}

describe('a file deleted while customers download it', () => {
  it('logs no error for the download already streaming, which completes', async () => {
    const s = await h.seller();
    const { file, query } = await uploaded(s, 8 * 1024 * 1024);
    const length = await new Promise<number>((resolve, reject) => {
      http
        .get(`${base}/api/files/${file.id}/download?${query}`, (res) => {
          expect(res.statusCode).toBe(200);
          let received = 0;
          res.once('data', () => {
            res.pause();
            s.call('DELETE', `/api/files/${file.id}`).then((del) => {
              expect(del.statusCode).toBe(200);
              res.resume();
            }, reject);
          });
          res.on('data', (chunk: Buffer) => void (received += chunk.length));
          res.on('end', () => resolve(received));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(length).toBe(8 * 1024 * 1024);
    expect((await app.inject({ method: 'GET', url: `/api/files/${file.id}/download?${query}` })).statusCode).toBe(404);
    expect(errors()).toEqual([]);
  });

  it('tells a download that was starting 404, and logs it at info level with the file id, not as an error', async () => {
    const s = await h.seller();
    const { file, licenseId, query } = await uploaded(s, 1024);
    // The download reads the file's row, then proves the key: its first activation waits on the
    // license row, held here until the file is deleted, so its bytes are gone when it opens them.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = h.deps.db.orm.transaction(async (tx) => {
      await tx.select().from(licenses).where(eq(licenses.id, licenseId)).for('update');
      locked();
      await held;
    });
    await lockTaken;
    const download = app.inject({ method: 'GET', url: `/api/files/${file.id}/download?${query}` });
    await untilLockWaiters(h.deps.db, 1, 'the download waiting on the license row');
    expect((await s.call('DELETE', `/api/files/${file.id}`)).statusCode).toBe(200);
    release();
    await holder;
    expect((await download).statusCode).toBe(404);
    expect(errors()).toEqual([]);
    expect(aboutFile(file.id)).toEqual([expect.objectContaining({ level: INFO, msg: expect.stringContaining('deleted while a download') })]);
  });

  it('logs an error when a file still there has lost its bytes, with no delete of it', async () => {
    const s = await h.seller();
    const { file, query } = await uploaded(s, 1024);
    rmSync(join(h.deps.files.dir, file.sha256));
    expect((await app.inject({ method: 'GET', url: `/api/files/${file.id}/download?${query}` })).statusCode).toBe(404);
    expect(aboutFile(file.id)).toEqual([expect.objectContaining({ level: ERROR, msg: expect.stringContaining('missing') })]);
  });
});

describe('bytes found missing while the database is away', () => {
  it('are logged as the fault they may be, and the look-up failing throws nothing (the download stays a 404)', async () => {
    const logged: string[] = [];
    const failing = () => ({ from: () => ({ where: () => ({ limit: () => Promise.reject(new Error('connection lost')) }) }) });
    const deps = { db: { orm: { select: failing } }, log: createLogger('info', { write: (line: string) => void logged.push(line) }) } as unknown as Deps;
    const file = { id: 7, sha256: 'a'.repeat(64) } as Parameters<typeof reportMissingBytes>[1];
    await expect(reportMissingBytes(deps, file)).resolves.toBeUndefined();
    expect(logged.join('')).toContain('"level":50');
    expect(logged.join('')).toContain('missing from the files directory');
  });
});

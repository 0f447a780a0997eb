import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepAbandonedTemps } from '../src/core/files/file-store.js';
import { createLogger } from '../src/log.js';
import { startHarness, type Harness } from './support/harness.js';
import { multipart } from './support/multipart.js';

let h: Harness;
let base: string;
beforeAll(async () => {
  h = await startHarness();
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => h?.close());

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('a file deleted while a customer downloads it', () => {
  it('still arrives whole to the download that had started; the bytes go after, and the next download is 404', async () => {
    const s = await h.seller();
    const { app, plan } = await s.setup();
    const [lic] = await s.generate(plan.id);
    const content = randomBytes(16 * 1024 * 1024);
    const body = multipart([{ name: 'file', filename: 'big.bin', data: content }]);
    const up = await h.app.inject({ method: 'POST', url: `/api/applications/${app.id}/files`, payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${s.token}` } });
    expect(up.statusCode, up.body).toBe(201);
    const file = up.json() as { id: number; sha256: string };
    const query = new URLSearchParams({ app_id: app.app_id, license_key: lic!.license_key, hwid: 'PC-1' });

    const received = await new Promise<Buffer>((resolve, reject) => {
      http
        .get(`${base}/api/files/${file.id}/download?${query}`, (res) => {
          expect(res.statusCode).toBe(200);
          const chunks: Buffer[] = [];
          let deleted = false;
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            if (deleted) return;
            deleted = true;
            // The first bytes are here: delete the file, and read on only once it is gone.
            res.pause();
            s.call('DELETE', `/api/files/${file.id}`).then((del) => {
              expect(del.statusCode).toBe(200);
              expect(existsSync(join(h.deps.files.dir, file.sha256))).toBe(false);
              res.resume();
            }, reject);
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(received.length).toBe(content.length);
    expect(sha256(received)).toBe(file.sha256);
    const again = await h.app.inject({ method: 'GET', url: `/api/files/${file.id}/download?${query}` });
    expect(again.statusCode).toBe(404);
  });
});

describe('temp files an upload left behind', () => {
  it('are swept without ever failing the upload: a sweep that cannot read the directory warns and is tried again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keycord-sweep-'));
    try {
      // `tmp` is a file here, so reading it as a directory fails (ENOTDIR) whoever runs the test.
      writeFileSync(join(dir, 'tmp'), 'not a directory');
      const warnings: string[] = [];
      const log = createLogger('warn', { write: (line: string) => void warnings.push(line) });
      await expect(sweepAbandonedTemps(dir, log)).resolves.toBeUndefined();
      await sweepAbandonedTemps(dir, log);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain('tried again on the next upload');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are removed once they are older than any upload may last, not while one may still be writing', async () => {
    const fresh = await startHarness();
    try {
      const tmp = join(fresh.deps.files.dir, 'tmp');
      mkdirSync(tmp, { recursive: true });
      // Left by a process that stopped mid-upload two days ago, and one of another process's uploads under way.
      writeFileSync(join(tmp, 'crashed.part'), randomBytes(1024));
      const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
      utimesSync(join(tmp, 'crashed.part'), twoDaysAgo, twoDaysAgo);
      writeFileSync(join(tmp, 'under-way.part'), randomBytes(1024));
      const s = await fresh.seller();
      const { app } = await s.setup();
      const body = multipart([{ name: 'file', filename: 'a.bin', data: Buffer.from('a') }]);
      const up = await fresh.app.inject({ method: 'POST', url: `/api/applications/${app.id}/files`, payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${s.token}` } });
      expect(up.statusCode, up.body).toBe(201);
      expect(readdirSync(tmp).sort()).toEqual(['under-way.part']);
    } finally {
      await fresh.close();
    }
  });
});

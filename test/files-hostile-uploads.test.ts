import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentDisposition } from '../src/core/files/file-rules.js';
import { expectError } from './support/expect-error.js';
import { startHarness, type Harness, type Seller } from './support/harness.js';
import { multipart, type Part } from './support/multipart.js';

/** Uploads built by hand the way a hostile client would, against a 4 KiB MAX_FILE_BYTES. */
let h: Harness;
let s: Seller;
let url: string;
beforeAll(async () => {
  h = await startHarness({ env: { MAX_FILE_BYTES: '4096' } });
  s = await h.seller();
  const { app } = await s.setup();
  url = `/api/applications/${app.id}/files`;
});
afterAll(() => h?.close());

const send = (payload: Buffer, contentType: string) => h.app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${s.token}`, 'content-type': contentType } });
const upload = (parts: Part[]) => {
  const body = multipart(parts);
  return send(body.payload, body.headers['content-type']!);
};
const file = (filename: string): Part => ({ name: 'file', filename, data: Buffer.from('x') });
const RLO = '\u202e';

describe('file names from hostile uploads', () => {
  it('drop direction overrides and invisible characters, so a name cannot pass for another', async () => {
    const spoof = await upload([file(`invoice${RLO}fdp.exe`)]);
    expect(spoof.statusCode, spoof.body).toBe(201);
    expect(spoof.json().name).toBe('invoicefdp.exe');
    for (const [sent, kept] of [
      ['setup\u200b.exe', 'setup.exe'],
      ['\ufeffreadme.txt', 'readme.txt'],
      ['a\u2066b\u2069.zip', 'ab.zip'],
      [`${RLO}\u200f`, 'file'],
      // Tag characters spell a hidden ASCII suffix; soft hyphens, separators and fillers show nothing.
      ['report.pdf\u{e0020}\u{e002e}\u{e0065}\u{e0078}\u{e0065}', 'report.pdf'],
      ['in\u00advoice\u034f.pdf', 'invoice.pdf'],
      ['a\u2028b\u2029c\u3164.txt', 'abc.txt'],
      ['x\ufff9y\u206a.txt', 'xy.txt'],
      // Format characters that show: a subdivision flag (Scotland) and an Arabic number sign stay whole.
      ['\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}.zip', '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}.zip'],
      ['\u0600\u0661\u0662.pdf', '\u0600\u0661\u0662.pdf'],
      // Tags that spell a dot are no flag: still dropped beside one.
      ['a\u{1F3F4}\u{E0067}\u{E007F}.pdf\u{E002E}\u{E0065}', 'a\u{1F3F4}\u{E0067}\u{E007F}.pdf'],
      // Joiners are part of emoji and of several scripts: they stay.
      ['👩\u200d💻.png', '👩\u200d💻.png'],
    ]) {
      expect((await upload([file(sent!)])).json().name, JSON.stringify(sent)).toBe(kept);
    }
    // A name stored before the cleaning goes out without them in the download header as well.
    expect(contentDisposition(`invoice${RLO}fdp.exe`)).toBe(`attachment; filename="invoicefdp.exe"; filename*=UTF-8''invoicefdp.exe`);
  });

  it('keep no directory, NUL or encoded path in the name, and no more than 255 characters', async () => {
    expect((await upload([file('a\u0000b.exe')])).json().name).toBe('ab.exe');
    const encoded = await send(Buffer.from(`--BB\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''..%2F..%2Fevil%00.sh\r\n\r\nxx\r\n--BB--\r\n`), 'multipart/form-data; boundary=BB');
    expect(encoded.json().name).toBe('evil.sh');
    expect([...(await upload([file('é'.repeat(3000))])).json().name]).toHaveLength(255);
    expect((await upload([{ name: 'name', value: '../'.repeat(400) }, file('x.bin')])).json().name).toBe('file');
  });

  it('answer too many fields or files, or a part without a file, with 4xx', async () => {
    const fields = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, value: '1' }));
    expectError(await upload([...fields, file('x.bin')]), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await upload([file('x.bin'), file('y.bin')]), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await send(Buffer.from('--BB\r\nContent-Type: text/plain\r\n\r\nxx\r\n--BB--\r\n'), 'multipart/form-data; boundary=BB'), 400, 'VALIDATION_ERROR');
    expectError(await send(Buffer.from('xx'), 'multipart/form-data'), 400, 'VALIDATION_ERROR');
  });
});

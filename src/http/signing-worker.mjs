// The thread behind `SigningThread` (signing-thread.ts). Plain JavaScript on purpose: on Node 20
// a worker thread does not inherit tsx's loader, so it could not load a .ts file.
//
// A batch is one transferred ArrayBuffer (u32 little-endian words): [0] the batch id, [1] the
// count n; then n u32 ends (each message's end, counted from the start of the messages), n u32
// key indexes, the 64-byte libsodium secret keys back to back, then the messages
// (`timestamp ‖ payload`) back to back. The answer, also transferred: the id (u32) padded to 64
// bytes, then the 64-byte signatures in the same order.
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

const sodium = createRequire(import.meta.url)('sodium-native');

parentPort.on('message', (packed) => {
  const head = new Uint32Array(packed, 0, 2);
  const id = head[0];
  const count = head[1];
  const ends = new Uint32Array(packed, 8, count);
  const keyOf = new Uint32Array(packed, 8 + 4 * count, count);
  const keysAt = 8 + 8 * count;
  let keyCount = 0;
  for (let i = 0; i < count; i++) keyCount = Math.max(keyCount, keyOf[i] + 1);
  const messagesAt = keysAt + 64 * keyCount;
  const bytes = Buffer.from(packed);
  const out = new ArrayBuffer(64 + count * 64);
  new Uint32Array(out, 0, 1)[0] = id;
  const signatures = Buffer.from(out);
  let start = messagesAt;
  for (let i = 0; i < count; i++) {
    const k = keysAt + keyOf[i] * 64;
    const end = messagesAt + ends[i];
    sodium.crypto_sign_detached(signatures.subarray(64 + i * 64, 128 + i * 64), bytes.subarray(start, end), bytes.subarray(k, k + 64));
    start = end;
  }
  parentPort.postMessage(out, [out]);
});

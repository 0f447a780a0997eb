// The thread behind `SigningThread` (signing-thread.ts). Plain JavaScript on purpose: on Node 20
// a worker thread does not inherit tsx's loader, so it could not load a .ts file.
//
// A batch: `messages`, the `timestamp ‖ payload` of each answer back to back; `ends`, where each
// one ends; `keys`, 64-byte libsodium secret keys back to back; `keyOf`, each message's key index.
// The answer: one buffer of 64-byte signatures in the same order. All buffers are transferred.
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

const sodium = createRequire(import.meta.url)('sodium-native');

parentPort.on('message', ({ id, messages, ends, keyOf, keys }) => {
  const count = ends.length;
  const out = new ArrayBuffer(count * 64);
  const signatures = Buffer.from(out);
  const bytes = Buffer.from(messages);
  const secretKeys = Buffer.from(keys);
  let start = 0;
  for (let i = 0; i < count; i++) {
    const k = keyOf[i] * 64;
    sodium.crypto_sign_detached(signatures.subarray(i * 64, i * 64 + 64), bytes.subarray(start, ends[i]), secretKeys.subarray(k, k + 64));
    start = ends[i];
  }
  parentPort.postMessage({ id, signatures: out }, [out]);
});

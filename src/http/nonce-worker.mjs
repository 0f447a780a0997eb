// The thread behind `NoncePool` (nonce-pool.ts). Plain JavaScript on purpose: on Node 20 a worker
// thread does not inherit tsx's loader, so it could not load a .ts file.
//
// Asked for n pairs (a number), it answers one transferred ArrayBuffer of n × 64 bytes: for each,
// a secret nonce r (32 bytes, uniform mod L, from libsodium's CSPRNG) then R = r·B (32 bytes).
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

const sodium = createRequire(import.meta.url)('sodium-native');

parentPort.on('message', (count) => {
  const out = new ArrayBuffer(count * 64);
  const pairs = Buffer.from(out);
  for (let i = 0; i < count; i++) {
    const r = pairs.subarray(i * 64, i * 64 + 32);
    const R = pairs.subarray(i * 64 + 32, i * 64 + 64);
    for (;;) {
      sodium.crypto_core_ed25519_scalar_random(r);
      try {
        // Refuses only r = 0 (the identity point), which a uniform draw mod L never gives in practice.
        sodium.crypto_scalarmult_ed25519_base_noclamp(R, r);
        break;
      } catch {}
    }
  }
  parentPort.postMessage(out, [out]);
});

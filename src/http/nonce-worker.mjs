// The thread behind `NoncePool` (nonce-pool.ts). Plain JavaScript on purpose: on Node 20 a worker
// thread does not inherit tsx's loader, so it could not load a .ts file.
//
// Asked for n pairs (a number), it answers one transferred ArrayBuffer of n × 64 bytes: for each,
// a secret nonce r (32 bytes, uniform mod L from 64 bytes of libsodium's CSPRNG) then R = r·B (32 bytes).
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

const sodium = createRequire(import.meta.url)('sodium-native');

// One CSPRNG call per batch, not one per pair: libsodium's scalar_random makes a getrandom(2)
// system call for each 32 bytes it draws (2.8 µs a pair on the bench host, against 0.5 µs this way).
// 64 random bytes reduced mod L, as RFC 8032 reduces its 64-byte hash to r: off uniform by < 2^-259.
parentPort.on('message', (count) => {
  const out = new ArrayBuffer(count * 64);
  const pairs = Buffer.from(out);
  const wide = Buffer.alloc(count * 64);
  sodium.randombytes_buf(wide);
  for (let i = 0; i < count; i++) {
    const r = pairs.subarray(i * 64, i * 64 + 32);
    const R = pairs.subarray(i * 64 + 32, i * 64 + 64);
    sodium.crypto_core_ed25519_scalar_reduce(r, wide.subarray(i * 64, i * 64 + 64));
    for (;;) {
      try {
        // Refuses only r = 0 (the identity point), which a uniform draw mod L never gives in practice.
        sodium.crypto_scalarmult_ed25519_base_noclamp(R, r);
        break;
      } catch {
        sodium.crypto_core_ed25519_scalar_random(r);
      }
    }
  }
  sodium.sodium_memzero(wide);
  parentPort.postMessage(out, [out]);
});

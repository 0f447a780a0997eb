// The thread behind `NoncePool` (nonce-pool.ts). Plain JavaScript on purpose: on Node 20 a worker
// thread does not inherit tsx's loader, so it could not load a .ts file.
//
// Asked for n pairs (a number), it answers one transferred ArrayBuffer of n × 64 bytes: for each,
// a secret nonce r (32 bytes, uniform mod L from 64 bytes of libsodium's CSPRNG) then R = r·B (32 bytes).
import { readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';

const sodium = createRequire(import.meta.url)('sodium-native');

// Work made ahead yields to the work of the moment: the event loop, Postgres and the clients share
// the same cores, and a pair made in an idle moment serves as well as one made now (the pool keeps
// a batch in reserve; when it runs dry, answers are signed inline). Lowest priority, this thread
// only: on Linux a priority is per thread, and this names the thread explicitly
// (/proc/thread-self); elsewhere (setpriority there would lower the whole process) it is left as is.
if (process.platform === 'linux') {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19);
  } catch {
    // No /proc, or a sandbox that refuses: pairs are made at normal priority.
  }
}

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

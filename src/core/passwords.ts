import { hash, verify, type Options } from '@node-rs/argon2';

/** `Algorithm.Argon2id`; the enum is a const enum, which isolated modules cannot import. */
const ARGON2ID = 2 as Options['algorithm'];

/**
 * Argon2id, memory-hard, at the OWASP baseline (19 MiB, 2 passes). The hash string carries its
 * own parameters, so raising them later still verifies old hashes.
 */
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export const hashPassword = (password: string) => hash(password, OPTIONS);

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** Verified against when the account does not exist, so a failed login takes the same time. */
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('keycord-dummy-password');
  await verifyPassword(await dummyHash, password);
}

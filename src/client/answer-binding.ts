import * as nodeCrypto from 'node:crypto';

/**
 * What ties a signed client answer to the one request it answers, shared by the SDK and the
 * server so the two cannot drift apart. A signature alone only proves Keycord said something once;
 * a recorded answer would otherwise pass for any later request within the clock window. So every
 * JSON answer carries, inside the signed body, the request's `nonce` and a `request` identity (the
 * route and what the request was about), and a download's signature covers its file id and nonce.
 */

/** 8–64 visible ASCII characters: echoed verbatim, and a newline would blur the download's signed text. */
export const NONCE_PATTERN = /^[\x21-\x7e]{8,64}$/;

/** What a request was about. Credentials are carried as their SHA-256 so an answer never repeats one. */
export interface RequestSubject {
  license_key?: string | undefined;
  old_license_key?: string | undefined;
  new_license_key?: string | undefined;
  hwid?: string | undefined;
  user_token?: string | undefined;
  username?: string | undefined;
  name?: string | undefined;
  file_id?: number | undefined;
}

/** The fields carried as their SHA-256, and the name each goes by in `request`. */
const HASHED_AS: Partial<Record<keyof RequestSubject, string>> = {
  license_key: 'license_key_sha256',
  old_license_key: 'old_license_key_sha256',
  new_license_key: 'new_license_key_sha256',
  hwid: 'hwid_sha256',
  user_token: 'user_token_sha256',
};

/** `{route: "POST /api/user-auth/login", username: "bob", hwid_sha256: "…"}`: the `request` field of an answer. */
export type RequestIdentity = { route: string } & Record<string, string | number>;

/**
 * One-shot `crypto.hash` where the runtime has it (Node ≥ 20.12): a third of `createHash`'s cost on
 * short input, and the server hashes two fields of every client answer. The SDK may run on an
 * older Node, hence the fallback.
 */
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256Hex = oneShot ? (text: string) => oneShot('sha256', text, 'hex') : (text: string) => nodeCrypto.createHash('sha256').update(text, 'utf8').digest('hex');

export function requestIdentity(route: string, subject: RequestSubject): RequestIdentity {
  // The server builds one per client answer: a for-in over the subject's own fields and names
  // looked up rather than built allocate nothing but the identity itself.
  const identity: RequestIdentity = { route };
  for (const field in subject) {
    const value = subject[field as keyof RequestSubject];
    if (value === undefined) continue;
    const hashedAs = HASHED_AS[field as keyof RequestSubject];
    if (hashedAs) identity[hashedAs] = sha256Hex(String(value));
    else identity[field] = value;
  }
  return identity;
}

/**
 * Whether an answer's `request` is the expected one. Fields a newer server adds are ignored;
 * every field the caller knows must match.
 */
export function answersRequest(actual: unknown, expected: RequestIdentity): boolean {
  if (typeof actual !== 'object' || actual === null) return false;
  return Object.entries(expected).every(([field, value]) => (actual as Record<string, unknown>)[field] === value);
}

export const DOWNLOAD_ROUTE = 'GET /api/files/:id/download';

/**
 * A download is streamed, so its signature cannot cover the body: it is made over
 * `X-Signature-Timestamp` followed by this text, `"\n" route "\n" file_id "\n" nonce "\n" sha256`
 * (an empty nonce when none was sent).
 */
export const downloadSignedText = (fileId: number, nonce: string | undefined, sha256: string) => `\n${DOWNLOAD_ROUTE}\n${fileId}\n${nonce ?? ''}\n${sha256}`;

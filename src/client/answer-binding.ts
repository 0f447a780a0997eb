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

/**
 * Every field a `request` identity can carry. The SDK holds an answer to all of them, absent ones
 * included: an answer naming a HWID (or a license, a token…) the SDK's request did not carry is the
 * answer to another request. Fields a newer server adds beyond these are ignored.
 */
const KNOWN_FIELDS: readonly string[] = ['route', 'username', 'name', 'file_id', ...Object.values(HASHED_AS)];

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
 * Whether an answer's `request` is the expected one: every known field equal, absent ones too
 * (an answer that names a field the request did not have is another request's). Fields a newer
 * server adds beyond the known ones are ignored.
 */
export function answersRequest(actual: unknown, expected: RequestIdentity): boolean {
  if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
  const answered = actual as Record<string, unknown>;
  for (const field of KNOWN_FIELDS) if (answered[field] !== expected[field]) return false;
  // A field the caller expects that is not a known one (none today) must still match.
  for (const field in expected) if (answered[field] !== expected[field]) return false;
  return true;
}

/**
 * The proof a request for a private resource (a variable, a file) carried, as its answer names it:
 * `license_key` and `hwid` as sent, or the bearer user token. An answer made for another proof (a
 * man in the middle swapping in a license that validates) is then refused.
 */
export function proofSubject(proof: { license_key?: string | undefined; hwid?: string | undefined; user_token?: string | undefined }): RequestSubject {
  return { license_key: proof.license_key, hwid: proof.hwid, user_token: proof.user_token };
}

/**
 * `POST /api/user-auth/create`'s answer carries, beside `request`, `password_hmac`: the hex
 * HMAC-SHA256 of the password as the server received it, keyed by the user name sent, so a
 * session whose password was swapped on the way is refused. Keyed, not a bare SHA-256, so the
 * answer holds nothing a table of common passwords' hashes reads back. A sibling of `request`
 * (not in it) so that `request` keeps naming what it names for every client.
 */
export const PASSWORD_BINDING = 'password_hmac';

/** The `password_hmac` of a new account: the password, keyed by the user name (both as sent). */
export const passwordBinding = (username: string, password: string): string => nodeCrypto.createHmac('sha256', username).update(password, 'utf8').digest('hex');

export const DOWNLOAD_ROUTE = 'GET /api/files/:id/download';

/**
 * A download is streamed, so its signature cannot cover the body: it is made over
 * `X-Signature-Timestamp` followed by this text, `"\n" route "\n" file_id "\n" nonce "\n" sha256`
 * (an empty nonce when none was sent).
 */
export const downloadSignedText = (fileId: number, nonce: string | undefined, sha256: string) => `\n${DOWNLOAD_ROUTE}\n${fileId}\n${nonce ?? ''}\n${sha256}`;

/**
 * The download's second signature, `X-Signature-Ed25519-Request`, also covers what the first does
 * not: the file's size (`X-Content-Size`) and the request it answers (`X-Answer-Request`, the JSON
 * `request` identity with the proof the request carried, as JSON answers name it). Made over
 * `X-Signature-Timestamp` followed by `downloadSignedText(…) "\n" size "\n" X-Answer-Request`.
 * The first signature stays as it was for SDKs that know only it.
 */
export const downloadRequestSignedText = (fileId: number, nonce: string | undefined, sha256: string, size: number, requestJson: string) =>
  `${downloadSignedText(fileId, nonce, sha256)}\n${size}\n${requestJson}`;

/** The download's headers of the second signature (lower case, as `Headers` reads them). */
export const DOWNLOAD_HEADERS = { request: 'x-answer-request', size: 'x-content-size', signature: 'x-signature-ed25519-request' } as const;

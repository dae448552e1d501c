/** The Ed25519 key that signs chain digests: parsing DIGEST_SIGNING_KEY and public keys, fingerprints, new pairs. */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export type KeyParse = { ok: true; key: KeyObject } | { ok: false; problem: string };

const PRIVATE_PEM = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/;
const PUBLIC_PEM = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/;

/**
 * The PEM text of a key given as PEM or as that PEM base64-encoded on one line (what fits an env file). A
 * literal `\n` is read as a newline, as env files written by hand often carry a PEM that way.
 */
function pemText(raw: string): string {
  const text = raw.trim().replaceAll('\\n', '\n');
  if (text.includes('-----BEGIN')) return text;
  if (!/^[A-Za-z0-9+/=\s]+$/.test(text)) return '';
  return Buffer.from(text, 'base64').toString('utf8');
}

/**
 * DIGEST_SIGNING_KEY as a private KeyObject. Problems name what is wrong and never quote the key. Text around
 * the PEM block is ignored, so the whole output of `digest keygen` works as the value too.
 */
export function parseSigningKey(raw: string): KeyParse {
  const text = pemText(raw);
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    return { ok: false, problem: 'is an encrypted private key; the service needs it unencrypted (PKCS#8 PEM)' };
  }
  const other = /-----BEGIN ([A-Z ]*PRIVATE KEY)-----/.exec(text);
  const block = PRIVATE_PEM.exec(text)?.[0];
  if (!block) {
    return other
      ? { ok: false, problem: `is a "${other[1]}" PEM; it must be PKCS#8 ("BEGIN PRIVATE KEY") as keygen prints` }
      : { ok: false, problem: 'must be an Ed25519 private key in PKCS#8 PEM, or that PEM base64-encoded on one line' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block, format: 'pem' });
  } catch {
    return { ok: false, problem: 'holds a PKCS#8 PEM block that does not parse as a private key' };
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    return { ok: false, problem: `is a ${key.asymmetricKeyType ?? 'unknown'} key; digests are signed with Ed25519` };
  }
  return { ok: true, key };
}

/**
 * A public key for checking digests: an SPKI PEM ("BEGIN PUBLIC KEY"), or a PKCS#8 private key PEM whose public
 * half is taken; either may be base64-encoded on one line.
 */
export function parsePublicKey(raw: string): KeyParse {
  const text = pemText(raw);
  const block = PUBLIC_PEM.exec(text)?.[0];
  if (!block) {
    const secret = parseSigningKey(raw);
    if (secret.ok) return { ok: true, key: createPublicKey(secret.key) };
    return { ok: false, problem: 'holds no Ed25519 public key PEM (BEGIN PUBLIC KEY)' };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: block, format: 'pem' });
  } catch {
    return { ok: false, problem: 'holds a public key PEM block that does not parse' };
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    return { ok: false, problem: `is a ${key.asymmetricKeyType ?? 'unknown'} key; digests are signed with Ed25519` };
  }
  return { ok: true, key };
}

/** The 32 bytes of an Ed25519 public key (RFC 8032), the form the fingerprint is taken over. */
function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { x } = publicKey.export({ format: 'jwk' });
  if (!x) throw new Error('not an Ed25519 key');
  return Buffer.from(x, 'base64url');
}

/**
 * The key's fingerprint: the first 16 hex characters of SHA-256 over the raw 32-byte public key. Anyone holding
 * the public key (in any encoding) can recompute it: `openssl pkey -pubin -in key.pub -outform DER | tail -c 32
 * | sha256sum | cut -c1-16`.
 */
export function keyFingerprint(key: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 16);
}

export function publicKeyPem(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return String(publicKey.export({ type: 'spki', format: 'pem' }));
}

export interface GeneratedKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  fingerprint: string;
}

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    publicKeyPem: publicKeyPem(publicKey),
    fingerprint: keyFingerprint(publicKey),
  };
}

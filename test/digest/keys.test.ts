import { execFile } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../src/config.ts';
import {
  digestMetadata,
  makeDigest,
  parseDigestPayload,
  signedBytes,
  statementSignedBy,
} from '../../src/digest/digest.ts';
import { generateSigningKeyPair, keyFingerprint, parsePublicKey, parseSigningKey } from '../../src/digest/keys.ts';

const run = promisify(execFile);
const pair = generateSigningKeyPair();

function configProblems(value: string): string[] {
  try {
    loadConfig({ DIGEST_SIGNING_KEY: value });
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
}

describe('DIGEST_SIGNING_KEY', () => {
  it('takes the PKCS#8 PEM, that PEM base64 on one line, a PEM with \\n escapes, or the whole keygen output', () => {
    const expected = pair.fingerprint;
    for (const value of [
      pair.privateKeyPem,
      Buffer.from(pair.privateKeyPem).toString('base64'),
      pair.privateKeyPem.trim().replaceAll('\n', '\\n'),
      `${pair.privateKeyPem}${pair.publicKeyPem}fingerprint ${pair.fingerprint}\n`,
    ]) {
      const config = loadConfig({ DIGEST_SIGNING_KEY: value });
      expect(keyFingerprint(config.digest.signingKey!)).toBe(expected);
    }
  });

  it('stops start-up naming the variable and what is wrong, never quoting the key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = (type: 'pkcs1' | 'pkcs8') => String(rsa.privateKey.export({ type, format: 'pem' }));
    const encrypted = generateKeyPairSync('ed25519').privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    });
    const cases: [string, RegExp][] = [
      ['not a key at all', /must be an Ed25519 private key in PKCS#8 PEM/],
      [pem('pkcs8'), /is a rsa key; digests are signed with Ed25519/],
      [pem('pkcs1'), /is a "RSA PRIVATE KEY" PEM; it must be PKCS#8/],
      [String(encrypted), /is an encrypted private key/],
      // Cut short: the DER inside is truncated (any 32 bytes would still be a valid Ed25519 seed).
      [pair.privateKeyPem.replace(/\n(.{20}).*\n-----END/, '\n$1\n-----END'), /does not parse as a private key/],
    ];
    for (const [value, message] of cases) {
      const problems = configProblems(value);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^DIGEST_SIGNING_KEY: /);
      expect(problems[0]).toMatch(message);
      const body = value.split('\n').find((line) => line && !line.startsWith('-----'));
      if (body) expect(problems[0]).not.toContain(body);
    }
  });

  it('fingerprints the raw 32-byte public key, as the openssl recipe in the docs computes it', () => {
    const der = createPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' });
    expect(der).toHaveLength(44);
    expect(pair.fingerprint).toBe(createHash('sha256').update(der.subarray(12)).digest('hex').slice(0, 16));
    expect(parsePublicKey(pair.publicKeyPem)).toMatchObject({ ok: true });
    expect(parsePublicKey(Buffer.from(pair.publicKeyPem).toString('base64'))).toMatchObject({ ok: true });
    expect(parsePublicKey('nothing')).toMatchObject({ ok: false });
  });
});

describe('a digest', () => {
  const key = parseSigningKey(pair.privateKeyPem);
  if (!key.ok) throw new Error(key.problem);
  const publicKey = createPublicKey(pair.publicKeyPem);
  const at = new Date('2026-11-25T00:05:00.000Z');
  const checkpoint = { seq: 3, hash: 'b'.repeat(64) };
  const anchor = { workspaceId: 'acme', headSeq: 7, headHash: 'a'.repeat(64), checkpoint };
  const digest = makeDigest(anchor, key.key, at);

  it('signs exactly the canonical JSON of its four fields', () => {
    expect(signedBytes(digest.head).toString()).toBe(
      `{"at":"2026-11-25T00:05:00.000Z","hash":"${'a'.repeat(64)}","seq":7,"workspaceId":"acme"}`,
    );
    expect(statementSignedBy(digest.head, digest.signature, publicKey)).toBe(true);
    const changes = [{ seq: 8 }, { hash: 'c'.repeat(64) }, { at: '2026-11-26T00:05:00.000Z' }, { workspaceId: 'a2' }];
    for (const changed of changes) {
      expect(statementSignedBy({ ...digest.head, ...changed }, digest.signature, publicKey)).toBe(false);
    }
    expect(statementSignedBy(digest.head, digest.signature, generateKeyPairSync('ed25519').publicKey)).toBe(false);
    expect(statementSignedBy(digest.head, 'AAAA', publicKey)).toBe(false);
  });

  it('travels as Slack metadata of strings and integers only, and reads back the same', () => {
    const metadata = digestMetadata(digest);
    expect(metadata.event_type).toBe('audit_digest');
    for (const [name, value] of Object.entries(metadata.event_payload)) {
      expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(typeof value === 'string' || Number.isSafeInteger(value)).toBe(true);
    }
    expect(JSON.stringify(metadata).length).toBeLessThan(1000);
    expect(parseDigestPayload(JSON.parse(JSON.stringify(metadata.event_payload)))).toEqual({ ok: true, digest });
    expect(parseDigestPayload({ ...metadata.event_payload, checkpoint_hash: undefined })).toMatchObject({ ok: false });
    const badHash = parseDigestPayload({ ...metadata.event_payload, hash: 'nothex' });
    expect(badHash).toMatchObject({ ok: false, problem: /^hash: / });
  });
});

describe('digest keygen and digest public-key', () => {
  /** The real `npm run cli -- …` entry, in a child process. */
  async function cli(args: string[], env: Record<string, string> = {}) {
    const { stdout } = await run('node', ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, ...env },
    });
    return stdout;
  }

  it('prints a key pair whose private half, as DIGEST_SIGNING_KEY, gives back its public half', async () => {
    const generated = await cli(['digest', 'keygen']);
    const privatePem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(generated)![0];
    const publicPem = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----\n/.exec(generated)![0];
    const fingerprint = /^fingerprint ([0-9a-f]{16})$/m.exec(generated)![1]!;
    expect(keyFingerprint(createPublicKey(publicPem))).toBe(fingerprint);

    const fromPem = await cli(['digest', 'public-key'], { DIGEST_SIGNING_KEY: privatePem });
    expect(fromPem).toBe(`${publicPem}fingerprint ${fingerprint}\n`);
    const oneLine = Buffer.from(generated).toString('base64');
    const fromBase64 = await cli(['digest', 'public-key'], { DIGEST_SIGNING_KEY: oneLine });
    expect(fromBase64).toBe(fromPem);
  });
});

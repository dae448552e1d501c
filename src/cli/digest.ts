/** `digest [--workspace W]` (post the signed digests now), `digest keygen`, `digest public-key` (SPEC 10, 12). */
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { generateSigningKeyPair, keyFingerprint, publicKeyPem } from '../digest/keys.ts';
import { type DigestRun, publishDigests } from '../digest/publish.ts';
import { digestSetup } from '../digest/setup.ts';
import { TrackingClient } from '../forwarding/tracking-client.ts';
import { createLogger } from '../logger.ts';
import { createSlackClient } from '../slack/client.ts';
import type { Database } from '../store/db.ts';
import { type CliIo, UsageError } from './run.ts';

export const DIGEST_USAGE = `usage: npm run -s cli -- digest [--workspace W]
       npm run -s cli -- digest keygen
       npm run -s cli -- digest public-key

  digest             signs the chain head (and retention checkpoint) of every workspace, or of W, and posts
                     them to DIGEST_CHANNEL now (also forwarded to Segment where forwarding is on)
  digest keygen      prints a new Ed25519 private key (PKCS#8 PEM, for DIGEST_SIGNING_KEY), its public key and
                     fingerprint
  digest public-key  prints the public key and fingerprint of DIGEST_SIGNING_KEY, for auditors`;

export async function digestCommand(
  config: Config,
  args: string[],
  io: CliIo,
  withDatabase: (run: (database: Database) => Promise<number>) => Promise<number>,
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'keygen') {
    if (rest.length) throw new UsageError('digest keygen takes no arguments');
    const pair = generateSigningKeyPair();
    // The keys alone on stdout, so `digest keygen > digest-key.pem` is a file DIGEST_SIGNING_KEY can hold as it is.
    io.out(pair.privateKeyPem.trimEnd());
    io.out(pair.publicKeyPem.trimEnd());
    io.out(`fingerprint ${pair.fingerprint}`);
    io.err(
      'The PRIVATE KEY signs digests: set it as DIGEST_SIGNING_KEY (the PEM, or `base64 -w0` of it on one line)\n' +
        'only where digests are made, never on the database host.\n' +
        'Give the PUBLIC KEY to auditors: verify --digests --public-key FILE.',
    );
    return 0;
  }
  if (sub === 'public-key') {
    if (rest.length) throw new UsageError('digest public-key takes no arguments');
    const key = config.digest.signingKey;
    if (!key) {
      io.err('DIGEST_SIGNING_KEY is not set: there is no public key to print (digest keygen makes a key pair)');
      return 2;
    }
    io.out(publicKeyPem(key).trimEnd());
    io.out(`fingerprint ${keyFingerprint(key)}`);
    return 0;
  }
  if (sub !== undefined && !sub.startsWith('--')) {
    throw new UsageError(`digest needs keygen, public-key or nothing (got "${sub}")`);
  }

  const { values } = parseArgs({ args, options: { workspace: { type: 'string' } }, strict: true });
  const setup = digestSetup(config);
  if (!setup.on) {
    io.err(setup.reason);
    return 2;
  }
  const logger = createLogger('warn', process.stderr);
  return withDatabase(async (database) => {
    const run: DigestRun = {};
    const result = await publishDigests(
      {
        db: database.db,
        client: createSlackClient(config.slack.botToken, config.slack.apiUrl, logger),
        channel: setup.channel,
        signingKey: setup.signingKey,
        tracking: new TrackingClient({ trackingUrl: config.segment.trackingUrl }),
        logger,
      },
      run,
      { ...(values.workspace !== undefined && { workspace: values.workspace }) },
    );
    for (const { digest, posted } of Object.values(run)) {
      if (!posted) continue;
      const { head, checkpoint } = digest;
      const purged = checkpoint ? `, checkpoint seq ${checkpoint.seq}` : '';
      io.out(`posted ${head.workspaceId}: seq ${head.seq}, head ${head.hash}${purged}, key ${digest.keyFingerprint}`);
    }
    switch (result.kind) {
      case 'done':
        if (result.workspaces === 0) {
          const none = values.workspace ? `no events in workspace ${values.workspace}` : 'no workspaces yet';
          io.out(`${none}: nothing to digest`);
        } else {
          const forwarded = result.forwarded ? ` (${result.forwarded} also forwarded to Segment)` : '';
          io.out(`posted ${result.posted} digest${result.posted === 1 ? '' : 's'} to ${setup.channel}${forwarded}`);
        }
        return 0;
      case 'refused':
        io.err(result.message);
        return 1;
      case 'retry':
        io.err(`could not post the digests: ${result.reason}; try again later`);
        return 1;
    }
  });
}

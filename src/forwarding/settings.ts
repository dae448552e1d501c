/**
 * Turning audit forwarding on and off. Each toggle is an audit event committed in the same transaction as the
 * setting it records, and decides where delivery starts: events stored while forwarding was off are not sent
 * unless the owner asks for a backfill.
 */
import type { Actor } from '../events.ts';
import { appendEvents } from '../store/append.ts';
import type { Db } from '../store/db.ts';
import {
  lockExistingForwarding,
  lockForwarding,
  saveForwardingOff,
  saveForwardingOn,
  seqBeforeReceived,
} from '../store/forwarding.ts';
import { storableJson, storableText } from '../store/storable.ts';
import { maskWriteKey } from './tracking-client.ts';

export const FORWARDING_ENABLED_TYPE = 'Audit Forwarding Enabled';
export const FORWARDING_DISABLED_TYPE = 'Audit Forwarding Disabled';

/** Segment write keys are 32 characters; this only refuses what cannot be one (and keys whose last 4 say too much). */
const WRITE_KEY = /^[A-Za-z0-9._-]+$/;
const MIN_WRITE_KEY = 8;
const MAX_WRITE_KEY = 256;

/** Why `writeKey` cannot be a Segment write key, or undefined when it can. Never quotes the key. */
export function writeKeyProblem(writeKey: string): string | undefined {
  if (!writeKey) return 'the write key is empty';
  if (/\s/.test(writeKey)) return 'a write key has no spaces';
  if (!WRITE_KEY.test(writeKey)) return 'a write key holds only letters, digits, ".", "-" and "_"';
  if (writeKey.length < MIN_WRITE_KEY)
    return `that write key is too short (${writeKey.length} characters); copy it from the source's settings in Segment`;
  if (writeKey.length > MAX_WRITE_KEY)
    return `that write key is too long (${writeKey.length} characters, at most ${MAX_WRITE_KEY})`;
  return undefined;
}

/** Who toggled, and from where: becomes the toggle event's actor and context. */
export interface ToggleSource {
  actor: Actor & { type: 'user' };
  context?: Record<string, unknown>;
}

/** Who toggled and from where came from Slack: text Postgres refuses is escaped, so the toggle is always recorded. */
function storableSource(source: ToggleSource): ToggleSource {
  return { actor: storableJson(source.actor), ...(source.context && { context: storableJson(source.context) }) };
}

export interface TurnOnRequest extends ToggleSource {
  workspaceId: string;
  writeKey: string;
  name?: string;
  /** Backfill: also send events received since this time. */
  since?: Date;
}

export interface TurnOnResult {
  /** The toggle event: the first event forwarded, unless a backfill starts earlier. */
  eventId: string;
  /** Delivery starts after this seq. */
  deliveredSeq: number;
  /** Forwarding was already on (so the cursor, and anything pending, was kept). */
  wasOn: boolean;
  /** Events stored before the toggle that the backfill will send. */
  backfill: number;
}

export async function turnForwardingOn(db: Db, asked: TurnOnRequest): Promise<TurnOnResult> {
  const problem = writeKeyProblem(asked.writeKey);
  if (problem) throw new Error(problem);
  const name = asked.name === undefined ? {} : { name: storableText(asked.name) };
  const request = { ...asked, ...storableSource(asked), ...name };
  const { workspaceId } = request;
  return db.transaction(async (tx) => {
    // The settings row first, then the chain head (inside appendEvents): the forwarder holds only the settings
    // row while it sends, so ingest never waits on a toggle that waits on Segment.
    const current = await lockForwarding(tx, workspaceId);
    const { stored } = await appendEvents(tx, workspaceId, [
      {
        type: FORWARDING_ENABLED_TYPE,
        actor: request.actor,
        resource: { type: 'audit_forwarding', id: workspaceId, ...(request.name && { name: request.name }) },
        ...(request.context && { context: request.context }),
        metadata: {
          writeKey: maskWriteKey(request.writeKey),
          ...(request.since && { since: request.since.toISOString() }),
        },
      },
    ]);
    const toggle = stored[0]!;
    const headBefore = toggle.seq - 1;
    const sinceSeq = request.since
      ? ((await seqBeforeReceived(tx, workspaceId, request.since)) ?? headBefore)
      : headBefore;
    const wasOn = current.enabled;
    // Already on: keep the cursor, so a change of name or key does not skip what is still pending.
    const deliveredSeq = wasOn ? Math.min(current.deliveredSeq, sinceSeq) : Math.min(sinceSeq, headBefore);
    await saveForwardingOn(tx, workspaceId, {
      writeKey: request.writeKey,
      name: request.name ?? null,
      changedBy: request.actor.id,
      deliveredSeq,
      startedSeq: wasOn ? Math.min(current.startedSeq, deliveredSeq) : deliveredSeq,
      fresh: !wasOn,
    });
    return { eventId: toggle.id, deliveredSeq, wasOn, backfill: Math.max(0, headBefore - deliveredSeq) };
  });
}

export interface TurnOffRequest extends ToggleSource {
  workspaceId: string;
}

/** Undefined when forwarding was not on (nothing changes, nothing is recorded). */
export async function turnForwardingOff(
  db: Db,
  asked: TurnOffRequest,
): Promise<{ eventId: string; undelivered: number } | undefined> {
  const request = { ...asked, ...storableSource(asked) };
  const { workspaceId } = request;
  return db.transaction(async (tx) => {
    const current = await lockExistingForwarding(tx, workspaceId);
    if (!current?.enabled) return undefined;
    const { stored } = await appendEvents(tx, workspaceId, [
      {
        type: FORWARDING_DISABLED_TYPE,
        actor: request.actor,
        resource: { type: 'audit_forwarding', id: workspaceId, ...(current.name && { name: current.name }) },
        ...(request.context && { context: request.context }),
        metadata: { writeKey: maskWriteKey(current.writeKey) },
      },
    ]);
    const toggle = stored[0]!;
    await saveForwardingOff(tx, workspaceId, request.actor.id);
    // The toggle event itself is stored after forwarding stopped, so it is not sent; neither is anything pending.
    return { eventId: toggle.id, undelivered: Math.max(0, toggle.seq - 1 - current.deliveredSeq) };
  });
}

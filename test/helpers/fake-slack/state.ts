/** What the fake Slack workspace holds: its identity, channels, messages, users, user groups and files. */
import type {
  EphemeralMessage,
  FakeFile,
  FakeMessage,
  FakeSlackOptions,
  FakeUser,
  RecordedResponse,
  StoredView,
} from './types.ts';

export const CHANNEL_ID = /^[CGD][A-Z0-9]{8,}$/;

export interface Channel {
  id: string;
  name: string;
  created: number;
  isMember: boolean;
}

export interface StoredMessage extends FakeMessage {
  channel: string;
}

export class SlackState {
  readonly botToken: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId = 'B0000000001';
  readonly appId = 'A0000000001';
  /** `http://127.0.0.1:PORT`, known once the server listens. */
  origin = '';

  readonly channelsById = new Map<string, Channel>();
  readonly channelIdsByName = new Map<string, string>();
  readonly messages: StoredMessage[] = [];
  readonly ephemerals: EphemeralMessage[] = [];
  readonly users = new Map<string, FakeUser>();
  readonly usergroups: Map<string, string[]>;
  readonly files = new Map<string, FakeFile>();
  /** Upload URL token → file ID. */
  readonly uploadTokens = new Map<string, string>();
  readonly responses: RecordedResponse[] = [];
  /** Every view by its ID (home tabs and modals), and each user's home view ID. */
  readonly views = new Map<string, StoredView>();
  readonly homeViewIds = new Map<string, string>();
  private viewCount = 0;
  private hashCount = 0;
  private channelCount = 0;
  private fileCount = 0;
  private lastMicros = 0n;

  constructor(options: FakeSlackOptions) {
    this.botToken = options.botToken ?? 'xoxb-test';
    this.teamId = options.teamId ?? 'T0000000001';
    this.botUserId = options.botUserId ?? 'U0000000BOT';
    this.usergroups = new Map(Object.entries(options.usergroups ?? {}));
    const bot = { id: this.botUserId, name: 'audit-trail', real_name: 'Audit Trail', is_bot: true };
    for (const user of [bot, ...(options.users ?? [])]) this.users.set(user.id, user);
  }

  /** Slack message timestamps: seconds and microseconds, unique and increasing, as Slack guarantees per channel. */
  nextTs(): string {
    const now = BigInt(Date.now()) * 1000n;
    this.lastMicros = now > this.lastMicros ? now : this.lastMicros + 1n;
    return `${this.lastMicros / 1_000_000n}.${(this.lastMicros % 1_000_000n).toString().padStart(6, '0')}`;
  }

  nextViewId(): string {
    this.viewCount += 1;
    return `V${String(this.viewCount).padStart(10, '0')}`;
  }

  nextViewHash(): string {
    this.hashCount += 1;
    return String(this.hashCount).padStart(7, '0');
  }

  nextFileId(): string {
    this.fileCount += 1;
    return `F${String(this.fileCount).padStart(10, '0')}`;
  }

  ensureChannel(nameOrId: string): Channel {
    const trimmed = nameOrId.replace(/^#/, '');
    const knownId = CHANNEL_ID.test(trimmed) ? trimmed : this.channelIdsByName.get(trimmed);
    const known = knownId ? this.channelsById.get(knownId) : undefined;
    if (known) return known;
    this.channelCount += 1;
    const id = CHANNEL_ID.test(trimmed) ? trimmed : `C${String(this.channelCount).padStart(10, '0')}`;
    const name = CHANNEL_ID.test(trimmed) ? trimmed.toLowerCase() : trimmed;
    const channel = { id, name, created: Math.floor(Date.now() / 1000), isMember: false };
    this.channelsById.set(id, channel);
    this.channelIdsByName.set(channel.name, id);
    return channel;
  }

  /** Methods that take a conversation ID only refuse names, as Slack does, so a test catches code that passes one. */
  channelById(value: unknown): Channel | undefined {
    return typeof value === 'string' ? this.channelsById.get(value) : undefined;
  }

  publicMessage(message: StoredMessage, withMetadata = true): FakeMessage {
    const { channel: _channel, ...rest } = structuredClone(message);
    if (!withMetadata) delete rest.metadata;
    return rest;
  }
}

/** Reading alerts back from the fake Slack: single or grouped, how many events a grouped one counts, its buttons. */
import type { FakeMessage } from './fake-slack.ts';

interface Block {
  type: string;
  text?: { text: string };
  fields?: { text: string }[];
  elements?: {
    action_id?: string;
    value?: string;
    text?: string | { text: string };
    confirm?: { title: { text: string } };
  }[];
}

export function blocksOf(message: FakeMessage): Block[] {
  return (message.blocks ?? []) as Block[];
}

/** The number of events a grouped message shows (its header: "60 × Source Disabled"); undefined for a single alert. */
export function groupedCount(message: FakeMessage): number | undefined {
  const header = blocksOf(message).find((b) => b.type === 'header')?.text?.text ?? '';
  const match = /^([\d,]+) (?:×|alerts:)/.exec(header);
  return match ? Number(match[1]!.replaceAll(',', '')) : undefined;
}

/** The group id in a message's metadata, for a grouped alert (or a single alert that heads a group). */
export function groupIdOf(message: FakeMessage): number | undefined {
  const id = message.metadata?.event_payload.group_id;
  return typeof id === 'number' ? id : undefined;
}

export function eventIdOf(message: FakeMessage): string | undefined {
  const id = message.metadata?.event_payload.event_id;
  return typeof id === 'string' ? id : undefined;
}

export function button(message: FakeMessage, actionId: string) {
  for (const block of blocksOf(message)) {
    const found = block.elements?.find((e) => e.action_id === actionId);
    if (found) return found as { action_id: string; value: string; confirm?: { title: { text: string } } };
  }
  return undefined;
}

/** Every text in a message, joined: for checks that something is (or is not) shown anywhere. */
export function textOf(message: { text?: string; blocks?: unknown[] }): string {
  return `${message.text ?? ''}\n${JSON.stringify(message.blocks ?? [])}`;
}

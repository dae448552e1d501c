/** What the text of `/audit` reads as: a subcommand with validated filters, or an error to show. */
import type { EventFilters } from '../../store/queries.ts';

export type AuditCommand =
  | HelpCommand
  | QueryCommand
  | ExportCommand
  | ForwardCommand
  | SilenceCommand
  | ImportCommand
  | CommandError;

export interface HelpCommand {
  kind: 'help';
}

export interface QueryCommand {
  kind: 'query';
  filters: EventFilters;
  /** Events per page, 1 to SLACK_PAGE_MAX. */
  limit: number;
}

export interface ExportCommand {
  kind: 'export';
  filters: EventFilters;
}

export type ForwardCommand =
  | { kind: 'forward'; action: 'status' }
  | { kind: 'forward'; action: 'off' }
  | {
      kind: 'forward';
      action: 'on';
      writeKey: string;
      /** A label for the destination, from the words after the write key. */
      name?: string;
      /** Also send events stored since this time (`--since 7d`). */
      since?: Date;
    };

export type SilenceCommand =
  | { kind: 'silences' }
  | {
      kind: 'silence';
      ruleId: string;
      /** Undefined: every resource of the rule. */
      resourceId?: string;
      /** As typed, e.g. `8h`. */
      duration: string;
      durationMs: number;
    }
  | { kind: 'unsilence'; id: number };

/** `/audit import status`: the Segment import of SPEC section 11. */
export interface ImportCommand {
  kind: 'import';
  action: 'status';
}

/** A refusal to show the user. Plain text that quotes what they typed: escape it with escapeMrkdwn when rendering. */
export interface CommandError {
  kind: 'error';
  message: string;
}

export function fail(message: string): CommandError {
  return { kind: 'error', message };
}

/**
 * Acknowledges what no listener acknowledged: a button or command this app never registered, or a listener that
 * failed before its ack. Without it Bolt holds such a request for 3 seconds and answers 404, and Slack shows the
 * user an error for a click that was merely not ours.
 */
import type { AnyMiddlewareArgs, ErrorCode, Middleware } from '@slack/bolt';

// Bolt's ErrorCode.ReceiverMultipleAckError, spelt out: a value import of '@slack/bolt' here would load Bolt (and
// its Express and Socket Mode) in every process, Slack on or off; slack/libraries.ts loads it when an app is built.
const MULTIPLE_ACK: `${ErrorCode.ReceiverMultipleAckError}` = 'slack_bolt_receiver_ack_multiple_error';

export const ackUnhandled: Middleware<AnyMiddlewareArgs> = async (args) => {
  try {
    // Resolves once every listener has settled; one that matched has acked long before (owners-only acks first).
    await args.next();
  } finally {
    // Events API requests are acked by Bolt itself and carry no ack here.
    if ('ack' in args && typeof args.ack === 'function') {
      await args.ack().catch((error: unknown) => {
        if ((error as { code?: unknown } | undefined)?.code !== MULTIPLE_ACK) throw error;
      });
    }
  }
};

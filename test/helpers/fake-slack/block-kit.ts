/** Checks Slack applies before it posts: something to show, well-formed metadata, and Block Kit's limits. */
import { isRecord } from '../../../src/json.ts';
import { platformError, type Answer } from './http.ts';
import type { MessageMetadata } from './types.ts';

/** A post needs something to show, sane metadata and blocks within Block Kit's limits, or Slack refuses it. */
export function invalidContent(body: Record<string, unknown>): Answer | undefined {
  const hasText = typeof body.text === 'string' && body.text.length > 0;
  if (!hasText && body.blocks === undefined && body.attachments === undefined) return platformError('no_text');
  if (body.metadata !== undefined && !isMetadata(body.metadata)) return platformError('invalid_metadata_format');
  if (body.blocks !== undefined) {
    const errors = blockErrors(body.blocks);
    if (errors.length) {
      return platformError('invalid_blocks', {
        errors,
        response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) },
      });
    }
  }
  return undefined;
}

export function isMetadata(value: unknown): value is MessageMetadata {
  return isRecord(value) && typeof value.event_type === 'string' && value.event_type.length > 0 && isRecord(value.event_payload);
}

/** The Block Kit limits Slack enforces on the blocks this project posts, with Slack's error wording. */
function blockErrors(blocks: unknown): string[] {
  if (!Array.isArray(blocks)) return ['must be an array [json-pointer:/blocks]'];
  const errors: string[] = [];
  if (blocks.length > 50) errors.push('no more than 50 items allowed [json-pointer:/blocks]');
  const blockIds = new Set<string>();
  const tooLong = (value: unknown, max: number, path: string): void => {
    if (typeof value === 'string' && value.length > max) errors.push(`must be less than ${max + 1} characters [json-pointer:${path}]`);
  };
  const text = (value: unknown, max: number, path: string, plainOnly = false): void => {
    if (!isRecord(value) || (value.type !== 'plain_text' && value.type !== 'mrkdwn') || typeof value.text !== 'string') {
      errors.push(`must be a text object [json-pointer:${path}]`);
      return;
    }
    if (plainOnly && value.type !== 'plain_text') errors.push(`must be a plain_text object [json-pointer:${path}/type]`);
    if (value.text.length === 0) errors.push(`must be more than 0 characters [json-pointer:${path}/text]`);
    tooLong(value.text, max, `${path}/text`);
  };
  const button = (element: Record<string, unknown>, path: string): void => {
    text(element.text, 75, `${path}/text`, true);
    tooLong(element.value, 2000, `${path}/value`);
    tooLong(element.action_id, 255, `${path}/action_id`);
    tooLong(element.url, 3000, `${path}/url`);
    if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') {
      errors.push(`must be one of primary, danger [json-pointer:${path}/style]`);
    }
    if (element.confirm !== undefined) {
      const confirm = isRecord(element.confirm) ? element.confirm : {};
      text(confirm.title, 100, `${path}/confirm/title`, true);
      text(confirm.text, 300, `${path}/confirm/text`);
      text(confirm.confirm, 30, `${path}/confirm/confirm`, true);
      text(confirm.deny, 30, `${path}/confirm/deny`, true);
    }
  };

  blocks.forEach((block: unknown, index) => {
    const path = `/blocks/${index}`;
    if (!isRecord(block) || typeof block.type !== 'string') {
      errors.push(`must provide an object with a type [json-pointer:${path}]`);
      return;
    }
    if (typeof block.block_id === 'string') {
      tooLong(block.block_id, 255, `${path}/block_id`);
      if (blockIds.has(block.block_id)) errors.push(`duplicate block_id [json-pointer:${path}/block_id]`);
      blockIds.add(block.block_id);
    }
    switch (block.type) {
      case 'header':
        text(block.text, 150, `${path}/text`, true);
        break;
      case 'section': {
        if (block.text === undefined && block.fields === undefined) errors.push(`must provide text or fields [json-pointer:${path}]`);
        if (block.text !== undefined) text(block.text, 3000, `${path}/text`);
        if (block.fields !== undefined) {
          const fields = Array.isArray(block.fields) ? block.fields : [];
          if (fields.length === 0 || fields.length > 10) errors.push(`must provide 1 to 10 fields [json-pointer:${path}/fields]`);
          for (const [i, field] of fields.entries()) text(field, 2000, `${path}/fields/${i}`);
        }
        if (isRecord(block.accessory) && block.accessory.type === 'button') button(block.accessory, `${path}/accessory`);
        break;
      }
      case 'context': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > 10) errors.push(`must provide 1 to 10 elements [json-pointer:${path}/elements]`);
        break;
      }
      case 'actions': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > 25) errors.push(`must provide 1 to 25 elements [json-pointer:${path}/elements]`);
        const actionIds = new Set<unknown>();
        elements.forEach((element: unknown, i) => {
          if (!isRecord(element)) return;
          if (element.action_id !== undefined && actionIds.has(element.action_id)) {
            errors.push(`duplicate action_id [json-pointer:${path}/elements/${i}/action_id]`);
          }
          actionIds.add(element.action_id);
          if (element.type === 'button') button(element, `${path}/elements/${i}`);
        });
        break;
      }
      default:
        break;
    }
  });
  return errors;
}

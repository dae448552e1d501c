/**
 * Checks Slack applies before it posts or publishes: something to show, well-formed metadata, Block Kit's limits for
 * messages (50 blocks) and views (100 blocks, a home or modal with its own fields), and the elements this project
 * uses (buttons, link buttons, static selects, overflow menus, section accessories).
 */
import { isRecord } from '../../../src/json.ts';
import { type Answer, platformError } from './http.ts';
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
  return (
    isRecord(value) &&
    typeof value.event_type === 'string' &&
    value.event_type.length > 0 &&
    isRecord(value.event_payload)
  );
}

/** A view for views.publish/open/update: invalid_arguments with Slack's messages, or undefined when Slack takes it. */
export function invalidView(view: unknown, allowed: readonly ('home' | 'modal')[]): Answer | undefined {
  const errors = viewErrors(view, allowed);
  if (errors.length === 0) return undefined;
  return platformError('invalid_arguments', { response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } });
}

function viewErrors(view: unknown, allowed: readonly ('home' | 'modal')[]): string[] {
  if (!isRecord(view)) return ['must provide an object [json-pointer:/view]'];
  const errors: string[] = [];
  if (!allowed.includes(view.type as 'home' | 'modal')) {
    errors.push(`must be one of ${allowed.join(', ')} [json-pointer:/view/type]`);
  }
  const plain = (value: unknown, max: number, path: string, required: boolean): void => {
    if (value === undefined) {
      if (required) errors.push(`is required [json-pointer:${path}]`);
      return;
    }
    if (!isRecord(value) || value.type !== 'plain_text' || typeof value.text !== 'string' || value.text.length === 0) {
      errors.push(`must be a plain_text object [json-pointer:${path}]`);
    } else if (value.text.length > max) {
      errors.push(`must be less than ${max + 1} characters [json-pointer:${path}/text]`);
    }
  };
  if (view.type === 'modal') {
    plain(view.title, 24, '/view/title', true);
    plain(view.close, 24, '/view/close', false);
    plain(view.submit, 24, '/view/submit', false);
  }
  for (const [field, max] of [
    ['private_metadata', 3000],
    ['callback_id', 255],
    ['external_id', 255],
  ] as const) {
    const value = view[field];
    if (typeof value === 'string' && value.length > max) {
      errors.push(`must be less than ${max + 1} characters [json-pointer:/view/${field}]`);
    }
  }
  const blockProblems = blockErrors(view.blocks, 100);
  errors.push(...blockProblems.map((e) => e.replace('[json-pointer:/blocks', '[json-pointer:/view/blocks')));
  return errors;
}

/** The Block Kit limits Slack enforces on the blocks this project sends, with Slack's error wording. */
function blockErrors(blocks: unknown, maxBlocks = 50): string[] {
  if (!Array.isArray(blocks)) return ['must be an array [json-pointer:/blocks]'];
  const errors: string[] = [];
  if (blocks.length > maxBlocks) errors.push(`no more than ${maxBlocks} items allowed [json-pointer:/blocks]`);
  const blockIds = new Set<string>();
  const tooLong = (value: unknown, max: number, path: string): void => {
    if (typeof value === 'string' && value.length > max)
      errors.push(`must be less than ${max + 1} characters [json-pointer:${path}]`);
  };
  const text = (value: unknown, max: number, path: string, plainOnly = false): void => {
    if (
      !isRecord(value) ||
      (value.type !== 'plain_text' && value.type !== 'mrkdwn') ||
      typeof value.text !== 'string'
    ) {
      errors.push(`must be a text object [json-pointer:${path}]`);
      return;
    }
    if (plainOnly && value.type !== 'plain_text')
      errors.push(`must be a plain_text object [json-pointer:${path}/type]`);
    if (value.text.length === 0) errors.push(`must be more than 0 characters [json-pointer:${path}/text]`);
    tooLong(value.text, max, `${path}/text`);
  };
  const confirmDialog = (confirmValue: unknown, path: string): void => {
    if (confirmValue === undefined) return;
    const confirm = isRecord(confirmValue) ? confirmValue : {};
    text(confirm.title, 100, `${path}/confirm/title`, true);
    text(confirm.text, 300, `${path}/confirm/text`);
    text(confirm.confirm, 30, `${path}/confirm/confirm`, true);
    text(confirm.deny, 30, `${path}/confirm/deny`, true);
  };
  const button = (element: Record<string, unknown>, path: string): void => {
    text(element.text, 75, `${path}/text`, true);
    tooLong(element.value, 2000, `${path}/value`);
    tooLong(element.action_id, 255, `${path}/action_id`);
    if (element.url !== undefined) {
      tooLong(element.url, 3000, `${path}/url`);
      if (typeof element.url !== 'string' || !/^https?:\/\/\S+$/.test(element.url)) {
        errors.push(`must be a valid URL [json-pointer:${path}/url]`);
      }
    }
    if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') {
      errors.push(`must be one of primary, danger [json-pointer:${path}/style]`);
    }
    confirmDialog(element.confirm, path);
  };
  /** The options of a static select (1 to 100) or an overflow menu (2 to 5): plain_text up to 75, values up to 75. */
  const options = (list: unknown, min: number, max: number, path: string): void => {
    const items = Array.isArray(list) ? list : [];
    if (items.length < min || items.length > max) {
      errors.push(`must provide ${min} to ${max} options [json-pointer:${path}]`);
    }
    const values = new Set<unknown>();
    items.forEach((option: unknown, i) => {
      const at = `${path}/${i}`;
      if (!isRecord(option)) {
        errors.push(`must provide an object [json-pointer:${at}]`);
        return;
      }
      text(option.text, 75, `${at}/text`, true);
      tooLong(option.value, 75, `${at}/value`);
      if (option.value !== undefined && values.has(option.value)) {
        errors.push(`duplicate option value [json-pointer:${at}/value]`);
      }
      values.add(option.value);
      if (option.description !== undefined) text(option.description, 75, `${at}/description`, true);
    });
  };
  const element = (value: Record<string, unknown>, path: string): void => {
    switch (value.type) {
      case 'button':
        button(value, path);
        break;
      case 'static_select':
        tooLong(value.action_id, 255, `${path}/action_id`);
        if (value.placeholder !== undefined) text(value.placeholder, 150, `${path}/placeholder`, true);
        if (value.option_groups === undefined) options(value.options, 1, 100, `${path}/options`);
        confirmDialog(value.confirm, path);
        break;
      case 'overflow':
        tooLong(value.action_id, 255, `${path}/action_id`);
        options(value.options, 2, 5, `${path}/options`);
        confirmDialog(value.confirm, path);
        break;
      default:
        errors.push(`unsupported element type ${String(value.type)} in the fake Slack [json-pointer:${path}/type]`);
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
        if (block.text === undefined && block.fields === undefined)
          errors.push(`must provide text or fields [json-pointer:${path}]`);
        if (block.text !== undefined) text(block.text, 3000, `${path}/text`);
        if (block.fields !== undefined) {
          const fields = Array.isArray(block.fields) ? block.fields : [];
          if (fields.length === 0 || fields.length > 10)
            errors.push(`must provide 1 to 10 fields [json-pointer:${path}/fields]`);
          for (const [i, field] of fields.entries()) text(field, 2000, `${path}/fields/${i}`);
        }
        if (block.accessory !== undefined) {
          if (isRecord(block.accessory)) element(block.accessory, `${path}/accessory`);
          else errors.push(`must provide an object [json-pointer:${path}/accessory]`);
        }
        break;
      }
      case 'context': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > 10)
          errors.push(`must provide 1 to 10 elements [json-pointer:${path}/elements]`);
        elements.forEach((item: unknown, i) => {
          // Images are the other kind of context element; this project sends none, so only text is checked.
          if (!isRecord(item) || item.type !== 'image') text(item, 2000, `${path}/elements/${i}`);
        });
        break;
      }
      case 'actions': {
        const elements = Array.isArray(block.elements) ? block.elements : [];
        if (elements.length === 0 || elements.length > 25)
          errors.push(`must provide 1 to 25 elements [json-pointer:${path}/elements]`);
        const actionIds = new Set<unknown>();
        elements.forEach((item: unknown, i) => {
          if (!isRecord(item)) return;
          if (item.action_id !== undefined && actionIds.has(item.action_id)) {
            errors.push(`duplicate action_id [json-pointer:${path}/elements/${i}/action_id]`);
          }
          actionIds.add(item.action_id);
          element(item, `${path}/elements/${i}`);
        });
        break;
      }
      case 'divider':
        break;
      default:
        errors.push(`unsupported block type ${block.type} in the fake Slack [json-pointer:${path}/type]`);
        break;
    }
  });
  return errors;
}

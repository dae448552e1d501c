/**
 * The rules a process works with: loaded once (start-up refuses invalid ones), watched for changes, logged with a
 * fingerprint at load and reload, and each rule's alert metrics made present. The worker role alerts with them; the
 * slack role checks `/audit silence` against them and finds a rule's channel.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { loadRuleSet, type RuleSet, watchRules } from './rule-loader.ts';

export interface RulesInForce {
  rules: RuleSet;
  close(): void;
}

export async function loadRulesInForce(rulesDir: string, log: Logger, metrics: Metrics): Promise<RulesInForce> {
  const rules = await loadRuleSet(rulesDir);
  const ids = rules.current().map((r) => r.id);
  // Read at each scrape, so a rule added while running has its series at 0 too.
  metrics.trackRules(() => rules.current().map((rule) => rule.id));
  log.info({ rules: ids, fingerprint: fingerprint(rules) }, `loaded ${ids.length} rules from ${rulesDir}`);
  const watcher = watchRules(rulesDir, log, (next) => {
    rules.replace(next);
    log.info({ fingerprint: fingerprint(rules) }, 'rule set fingerprint');
  });
  return { rules, close: () => watcher.close() };
}

/** A short hash of the rule set, logged at load and reload, so operators can compare worker processes. */
function fingerprint(rules: RuleSet): string {
  const content = JSON.stringify(
    rules.current().map(({ file: _file, line: _line, ...rule }) => rule),
    (_key, value: unknown) => (value instanceof RegExp ? value.source : value),
  );
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

/** A grouped alert's "Retry failed" (owners only): a Revert all run over the events the last run could not revert. */
import type { SlackDeps } from '../../context.ts';
import { revertAllAction } from './revert-all.ts';

export function retryFailedAction(deps: SlackDeps) {
  return revertAllAction(deps, 'failed');
}

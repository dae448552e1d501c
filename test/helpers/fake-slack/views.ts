/**
 * views.publish, views.open and views.update: the App Home tab each user sees, and modals. Views are checked as Slack
 * checks them (type, title, 100 blocks and the element limits), carry an id and a hash, and a stale hash is refused
 * with hash_conflict, as Slack does to protect a newer view.
 */
import { invalidView } from './block-kit.ts';
import { type Handler, ok, platformError, str } from './http.ts';
import type { SlackState } from './state.ts';
import type { StoredView } from './types.ts';

export function viewMethods(state: SlackState): Record<string, Handler> {
  function save(view: Record<string, unknown>, extra: Partial<StoredView> & Pick<StoredView, 'id'>): StoredView {
    const stored: StoredView = {
      ...extra,
      id: extra.id,
      hash: `${Math.floor(Date.now() / 1000)}.${state.nextViewHash()}`,
      view: structuredClone(view),
    };
    state.views.set(stored.id, stored);
    return stored;
  }

  function answer(stored: StoredView) {
    return ok({
      view: {
        ...stored.view,
        id: stored.id,
        team_id: state.teamId,
        hash: stored.hash,
        app_id: state.appId,
        bot_id: state.botId,
        root_view_id: stored.id,
        state: { values: {} },
      },
    });
  }

  return {
    'views.publish': (body) => {
      const userId = str(body.user_id);
      if (!userId || !state.users.has(userId)) {
        return platformError('invalid_arguments', { response_metadata: { messages: ['[ERROR] invalid `user_id`'] } });
      }
      const invalid = invalidView(body.view, ['home']);
      if (invalid) return invalid;
      const id = state.homeViewIds.get(userId) ?? state.nextViewId();
      const current = state.views.get(id);
      if (current && str(body.hash) && body.hash !== current.hash) return platformError('hash_conflict');
      state.homeViewIds.set(userId, id);
      return answer(save(body.view as Record<string, unknown>, { id, userId }));
    },

    'views.open': (body) => {
      if (!str(body.trigger_id)) return platformError('invalid_trigger_id');
      const invalid = invalidView(body.view, ['modal']);
      if (invalid) return invalid;
      return answer(
        save(body.view as Record<string, unknown>, { id: state.nextViewId(), triggerId: str(body.trigger_id) }),
      );
    },

    'views.update': (body) => {
      const id = str(body.view_id);
      const current = id ? state.views.get(id) : undefined;
      if (!current) return platformError('not_found');
      if (str(body.hash) && body.hash !== current.hash) return platformError('hash_conflict');
      const invalid = invalidView(body.view, [current.view.type as 'home' | 'modal']);
      if (invalid) return invalid;
      const { view: _old, hash: _hash, ...kept } = current;
      return answer(save(body.view as Record<string, unknown>, kept));
    },
  };
}

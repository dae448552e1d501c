/**
 * auth.test, users.info, users.lookupByEmail and usergroups.users.list: who the bot is, who a user is (by ID or by
 * email), and who is in a group.
 */
import { type Handler, ok, platformError, str } from './http.ts';
import type { SlackState } from './state.ts';
import type { FakeUser } from './types.ts';

export function userMethods(state: SlackState): Record<string, Handler> {
  return {
    'auth.test': () =>
      ok({
        url: 'https://fake-workspace.slack.com/',
        team: 'Fake Workspace',
        user: 'audit-trail',
        team_id: state.teamId,
        user_id: state.botUserId,
        bot_id: state.botId,
        is_enterprise_install: false,
      }),

    'usergroups.users.list': (body) => {
      const members = state.usergroups.get(str(body.usergroup) ?? '');
      return members ? ok({ users: [...members] }) : platformError('no_such_subteam');
    },

    // Slack matches the email case-insensitively and answers users_not_found for an email no member has.
    'users.lookupByEmail': (body) => {
      const email = str(body.email)?.toLowerCase();
      if (!email) return platformError('invalid_arguments');
      const user = [...state.users.values()].find((u) => u.email?.toLowerCase() === email && !u.deleted);
      return user ? ok({ user: userObject(user, state.teamId) }) : platformError('users_not_found');
    },

    'users.info': (body) => {
      const user = state.users.get(str(body.user) ?? '');
      return user ? ok({ user: userObject(user, state.teamId) }) : platformError('user_not_found');
    },
  };
}

function userObject(user: FakeUser, teamId: string): Record<string, unknown> {
  const realName = user.real_name ?? user.name;
  return {
    id: user.id,
    team_id: teamId,
    name: user.name,
    deleted: user.deleted ?? false,
    color: '9f69e7',
    real_name: realName,
    tz: user.tz ?? 'Europe/Amsterdam',
    tz_label: 'Central European Time',
    tz_offset: 3600,
    profile: {
      real_name: realName,
      real_name_normalized: realName,
      display_name: user.name,
      display_name_normalized: user.name,
      ...(user.email ? { email: user.email } : {}),
      image_48: 'https://a.slack-edge.com/80588/img/avatars/ava_0001-48.png',
      team: teamId,
    },
    is_admin: user.is_admin ?? false,
    is_owner: false,
    is_primary_owner: false,
    is_restricted: false,
    is_ultra_restricted: false,
    is_bot: user.is_bot ?? false,
    is_app_user: false,
    updated: Math.floor(Date.now() / 1000),
  };
}

/** Action and callback IDs shared by the block builders that emit them and the listeners that handle them. */

export const SHOW_TRAIL_ACTION = 'audit_show_trail';
export const REVERT_ACTION = 'audit_revert';
export const NEXT_PAGE_ACTION = 'audit_next_page';
export const ACKNOWLEDGE_ACTION = 'audit_acknowledge';
/** The alert's "Silence…" menu (a static select of durations). */
export const SILENCE_ACTION = 'audit_silence';
export const UNSILENCE_ACTION = 'audit_unsilence';
/** "Show them" on a silence's summary: the alerts it held back. */
export const SHOW_HELD_BACK_ACTION = 'audit_show_held_back';
/** The alert's "Open" link button: Slack still sends a block_actions payload for it, which must be acknowledged. */
export const OPEN_LINK_ACTION = 'audit_open_resource';
/** The App Home's buttons for common `/audit` queries. */
export const HOME_QUERY_ACTION = 'audit_home_query';

/** The grouped alert's buttons, and the Previous/Next of its private event list. */
export const SHOW_ALL_ACTION = 'audit_show_all';
export const SHOW_FAILURES_ACTION = 'audit_show_failures';
export const GROUP_PAGE_NEXT_ACTION = 'audit_group_page_next';
export const GROUP_PAGE_PREVIOUS_ACTION = 'audit_group_page_previous';
export const REVERT_ALL_ACTION = 'audit_revert_all';
export const RETRY_FAILED_ACTION = 'audit_retry_failed';

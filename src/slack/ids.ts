/** Action and callback IDs shared by the block builders that emit them and the listeners that handle them. */

export const SHOW_TRAIL_ACTION = 'audit_show_trail';
export const REVERT_ACTION = 'audit_revert';
export const NEXT_PAGE_ACTION = 'audit_next_page';

/** The grouped alert's buttons, and the Previous/Next of its private event list. */
export const SHOW_ALL_ACTION = 'audit_show_all';
export const SHOW_FAILURES_ACTION = 'audit_show_failures';
export const GROUP_PAGE_NEXT_ACTION = 'audit_group_page_next';
export const GROUP_PAGE_PREVIOUS_ACTION = 'audit_group_page_previous';
export const REVERT_ALL_ACTION = 'audit_revert_all';
export const RETRY_FAILED_ACTION = 'audit_retry_failed';

/** Action and callback IDs shared by the block builders that emit them and the listeners that handle them. */

export const SHOW_TRAIL_ACTION = 'audit_show_trail';
export const REVERT_ACTION = 'audit_revert';
export const NEXT_PAGE_ACTION = 'audit_next_page';

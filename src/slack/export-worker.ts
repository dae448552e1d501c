/**
 * Moved to export/worker.ts. Kept only so service.ts, which another branch is splitting into roles/, still builds:
 * point its import at export/worker.ts and delete this file.
 */
export { createExportWorker } from '../export/worker.ts';

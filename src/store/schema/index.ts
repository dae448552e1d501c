export * from './events.ts';
export * from './chain.ts';
export * from './outbox.ts';
export * from './ingest-tokens.ts';
export * from './alerts.ts';
export * from './reverts.ts';
export * from './forwarding.ts';
export * from './segment-import.ts';

/** The fake Slack lives in fake-slack/; this path stays so tests (here and on other branches) import it as before. */
export * from './fake-slack/index.ts';

/**
 * `npm run bench [-- ingest export query alerts forwarding startup segment storms]`: each figure as a ratio to a
 * baseline measured in the same run.
 */
import { benchAlerts } from './alerts.ts';
import { benchExport } from './export.ts';
import { benchForwarding } from './forwarding.ts';
import { line } from './harness.ts';
import { benchIngest } from './ingest.ts';
import { benchQuery } from './query.ts';
import { benchSegment } from './segment.ts';
import { benchStartup } from './startup.ts';
import { benchStorms } from './storms.ts';

const suites: Record<string, () => Promise<unknown>> = {
  ingest: benchIngest,
  export: benchExport,
  query: benchQuery,
  alerts: benchAlerts,
  forwarding: benchForwarding,
  startup: benchStartup,
  segment: benchSegment,
  storms: benchStorms,
};

const chosen = process.argv.slice(2).filter((arg) => arg !== '--');
const names = chosen.length ? chosen : Object.keys(suites);
const unknown = names.filter((name) => !suites[name]);
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(suites).join(', ')}\n`);
  process.exit(2);
}

line(`audit-trail benchmarks, ${new Date().toISOString()}, node ${process.version}`);
for (const name of names) await suites[name]!();

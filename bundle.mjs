/**
 * The service's start-up file: esbuild bundles src/main.ts and the libraries it imports into dist/main.js (tsc has
 * compiled and type-checked the rest of dist/ just before, for the CLI). Node then reads one file instead of
 * resolving and compiling several hundred modules, which is most of what start-up cost (`npm run bench -- startup`).
 */
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  // Loaded from node_modules at run time as usual:
  // - pino starts its transports (pino-pretty on a terminal) in worker threads by file path, next to its own files;
  // - msgpackr-extract is a native addon found from its own folder, and optional (msgpackr falls back to JavaScript);
  // - Slack's libraries are loaded on first use only (src/slack/libraries.ts), so a process with Slack off never
  //   reads them.
  external: ['pino', 'pino-pretty', 'thread-stream', 'msgpackr-extract', '@slack/bolt', '@slack/web-api'],
  // The CommonJS libraries in the bundle still call require() for Node's built-ins and use __dirname (ioredis trims
  // stack traces with it): an ES module has neither, so the bundle defines them first.
  banner: {
    js: [
      "import { createRequire as __bundleRequire } from 'node:module';",
      "import { fileURLToPath as __bundlePath } from 'node:url';",
      'const require = __bundleRequire(import.meta.url);',
      'const __filename = __bundlePath(import.meta.url);',
      "const __dirname = __bundlePath(new URL('.', import.meta.url));",
    ].join('\n'),
  },
});

/** A Postgres server of a test's own, on a free port, that the test may stop and restart (never the shared one). */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './redis-server.ts';

const BIN = process.env.POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

export interface OwnPostgres {
  /** A server URL (database `postgres`, user `postgres`, trust auth). */
  url: string;
  port: number;
  /** Starts it, unless it runs already. */
  start(): Promise<void>;
  /** Stops it the hard way (SIGKILL of the postmaster and every backend), as a crash or a pulled cable would. */
  kill(): Promise<void>;
  /** Freezes every Postgres process (SIGSTOP): connections stay open but nothing answers, as on a hung host. */
  pause(): Promise<void>;
  resume(): void;
  cleanup(): Promise<void>;
}

/** initdb and postgres refuse to run as root, so when the tests run as root both run as the `postgres` user. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/**
 * The postmaster and its children (backends, checkpointer, …) with their run states (R, S, T, …), from
 * /proc. Postgres children call setsid(), so a signal to the postmaster's process group misses them.
 */
function family(postmaster: number): { pid: number; state: string }[] {
  const found: { pid: number; state: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …; comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      if (pid === postmaster || Number(ppid) === postmaster) found.push({ pid, state: state! });
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

function signalFamily(postmaster: number, signal: NodeJS.Signals): void {
  // Stopped first, the postmaster forks no new child, and its children stay its own while we look.
  process.kill(postmaster, 'SIGSTOP');
  for (const { pid } of family(postmaster)) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

export async function ownPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'audit-pg-'));
  const user = runAs();
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, 'data');
  const initdbArgs = ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'];
  const init = spawnSync(join(BIN, 'initdb'), initdbArgs, { ...user, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;

  // A child killed by a signal keeps exitCode null: signalCode says it is gone.
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  async function waitUntil(up: boolean) {
    for (let i = 0; i < 200; i++) {
      const probe = postgres(url, { max: 1, connect_timeout: 1, onnotice: () => {} });
      const ok = await probe`select 1`.then(
        () => true,
        () => false,
      );
      await probe.end({ timeout: 0 });
      if (ok === up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`postgres on ${port} did not come ${up ? 'up' : 'down'}`);
  }

  return {
    url,
    port,
    async start() {
      if (running()) return;
      child = spawn(
        join(BIN, 'postgres'),
        [
          '-D',
          data,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `unix_socket_directories=${dir}`,
          '-c',
          'fsync=off',
          '-c',
          'full_page_writes=off',
        ],
        { ...user, stdio: 'ignore' },
      );
      await waitUntil(true);
    },
    async kill() {
      if (!running()) return;
      const exited = new Promise((r) => child!.once('exit', r));
      signalFamily(child!.pid!, 'SIGKILL');
      await exited;
      await waitUntil(false);
    },
    async pause() {
      if (!running()) return;
      signalFamily(child!.pid!, 'SIGSTOP');
      // Signals arrive asynchronously: wait until every one of them is stopped.
      while (family(child!.pid!).some(({ state }) => state !== 'T')) await new Promise((r) => setTimeout(r, 10));
    },
    resume() {
      if (running()) signalFamily(child!.pid!, 'SIGCONT');
    },
    async cleanup() {
      try {
        if (running()) {
          const exited = new Promise((r) => child!.once('exit', r));
          signalFamily(child!.pid!, 'SIGKILL');
          await exited;
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

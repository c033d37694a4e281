// The real Bosun service for the tests: `uv run bosun serve` on a free loopback port with an embedded PostgreSQL
// in a temporary folder, started from that folder so no developer `.env` applies. stop() ends both.
// global-setup.ts starts one per test run; test files read where it is with testEnvironment().
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

export interface Service {
  url: string;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  while (Date.now() < deadline) {
    if (spawnError) {
      throw new Error(`cannot start \`uv run bosun serve\` (is uv on PATH?): ${spawnError.message}`);
    }
    if (child.exitCode !== null) {
      throw new Error(`bosun serve exited with ${child.exitCode}:\n${output()}`);
    }
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`bosun serve was not ready within ${START_TIMEOUT_MS / 1000}s:\n${output()}`);
}

/** Start the service on `port` (a free one by default) with more settings in `env`; browsers on `corsOrigins` may
 * call it. */
export async function startService(
  corsOrigins: string[] = [],
  env: NodeJS.ProcessEnv = {},
  port?: number,
): Promise<Service> {
  port ??= await freePort();
  const workdir = mkdtempSync(path.join(tmpdir(), 'bosun-client-test-'));
  const environment: NodeJS.ProcessEnv = {
    ...process.env,
    ENVIRONMENT: 'test',
    SECRET_KEY: randomBytes(32).toString('hex'),
    CORS_ORIGINS: JSON.stringify(corsOrigins),
    METRICS_PORT: '0',
    LOG_LEVEL: 'WARNING',
    OTEL_SDK_DISABLED: 'true',
    ...env,
  };
  delete environment.DATABASE_URL; // the embedded PostgreSQL, in workdir
  const args = ['run', '--project', repoRoot, 'bosun', 'serve', '--host', '127.0.0.1', '--port', String(port)];
  const child = spawn('uv', [...args, '--data-dir', path.join(workdir, 'pgdata')], {
    cwd: workdir,
    env: environment,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited(child);
    clearTimeout(timer);
    rmSync(workdir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(url, child, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}

/** What global-setup.ts started: the API's URL, the one browser origin in its CORS_ORIGINS, and the folder its
 * emails are filed in. */
export function testEnvironment(): { apiUrl: string; allowedOrigin: string; mailDir: string } {
  const apiUrl = process.env.BOSUN_TEST_API_URL;
  const allowedOrigin = process.env.BOSUN_TEST_ALLOWED_ORIGIN;
  const mailDir = process.env.BOSUN_TEST_MAIL_DIR;
  if (!apiUrl || !allowedOrigin || !mailDir) {
    throw new Error('no service: run the tests with `npm run test:e2e` (it starts one in test/global-setup.ts)');
  }
  return { apiUrl, allowedOrigin, mailDir };
}

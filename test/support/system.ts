/**
 * Real system components for tests: free loopback ports, Debian's Mosquitto started on one, and a
 * rule for missing packages: skip with a visible message locally, fail under CI=true.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './temp.ts';

export const inCI = process.env.CI === 'true';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function findExecutable(candidates: string[]): string | null {
  for (const candidate of candidates) {
    const found = spawnSync('sh', ['-c', `command -v ${candidate}`], { encoding: 'utf8' }).stdout.trim();
    if (found) return found;
  }
  return null;
}

/**
 * Resolves a system executable a suite needs. Missing locally: returns null and prints why the suite
 * is skipped. Missing under CI=true: throws, so CI can never pass by skipping.
 */
export function requireSystem(name: string, candidates: string[], install: string): string | null {
  const found = findExecutable(candidates);
  if (found) return found;
  const message = `${name} not found (${candidates.join(', ')}); install it with: ${install}`;
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`SKIPPED: ${message}`);
  return null;
}

export const mosquittoPath = () =>
  requireSystem('Mosquitto', ['mosquitto', '/usr/sbin/mosquitto'], 'apt-get install mosquitto mosquitto-clients');

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same persistence file (for broker-outage tests). */
  restart(): Promise<void>;
}

export async function startMosquitto(binary: string, extraConfig: string[] = [], port?: number): Promise<Mosquitto> {
  const dir = await tempDir('loupe-mosquitto-');
  const chosen = port ?? (await freePort());
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    // `user root`: started as root (CI), Mosquitto would switch to its own user, which cannot read the
    // test's private temp folder (persistence, certificates); started as anyone else it is ignored.
    [
      'user root',
      `listener ${chosen} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'log_dest stderr',
      'log_type error',
      ...extraConfig,
    ].join('\n') + '\n',
  );
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${stderr}`);
      if (await canConnect(chosen)) return child;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`mosquitto did not listen on ${chosen} within 10 s: ${stderr}`);
  };
  const handle: Mosquitto = {
    port: chosen,
    url: `mqtt://127.0.0.1:${chosen}`,
    dir,
    process: await launch(),
    async stop() {
      const child = handle.process;
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
    async restart() {
      await handle.stop();
      handle.process = await launch();
    },
  };
  return handle;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

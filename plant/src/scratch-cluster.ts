/**
 * A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port: what the plant's
 * tests and `loupe bench --only plant` run against, so neither needs (nor touches) a server of the
 * machine's. initdb refuses to run as root, so as root the cluster is made and run as the
 * `postgres` user (runuser); as anyone else, as that user. Debian keeps the binaries out of PATH,
 * under /usr/lib/postgresql/<version>/bin.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/support/system.ts';

export interface ScratchCluster {
  url: string;
  port: number;
  dir: string;
  stop(): void;
}

/** The folder of initdb and pg_ctl, or null when PostgreSQL is not installed. */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(root, versions[0], 'bin');
  }
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  return found ? path.dirname(found) : null;
}

export async function startScratchCluster(bin: string, settings: string[] = []): Promise<ScratchCluster> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loupe-pg-'));
  const data = path.join(dir, 'data');
  const user = asRoot ? 'postgres' : os.userInfo().username;
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
    chmodSync(dir, 0o700);
  }
  const run = (command: string, args: string[]) => {
    const full = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, command), ...args], { encoding: 'utf8' })
      : spawnSync(path.join(bin, command), args, { encoding: 'utf8' });
    if (full.status !== 0) throw new Error(`${command} failed (${full.status}): ${full.stderr || full.stdout}`);
  };
  run('initdb', ['-D', data, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const options = [
    `-c listen_addresses=127.0.0.1`,
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    '-c fsync=on',
    ...settings.map((s) => `-c ${s}`),
  ].join(' ');
  run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  return {
    url: `postgres://${user}@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

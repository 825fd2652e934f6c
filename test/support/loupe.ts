/**
 * Starts the real `loupe` command as a child process, as an operator would, and waits for its
 * "ready" log line, which carries the ports it bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { ADMIN } from './session.ts';
import { tempDir } from './temp.ts';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

export interface LoupeProcess {
  child: ChildProcess;
  httpUrl: string;
  mqttUrl: string;
  dir: string;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function writeConfig(config: object, dir?: string): Promise<{ file: string; dir: string }> {
  const where = dir ?? (await tempDir('loupe-test-'));
  const file = path.join(where, 'loupe.yaml');
  await writeFile(file, stringify(config));
  return { file, dir: where };
}

export async function startLoupe(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<LoupeProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'loupe.js'), command, ...args], {
    cwd: repoRoot,
    env: {
      ...process.env,
      LOUPE_LOG_LEVEL: 'info',
      LOUPE_ADMIN_USER: ADMIN.name,
      LOUPE_ADMIN_PASSWORD: ADMIN.password,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const ready = new Promise<{ httpUrl: string; mqttUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // a process that never got ready would otherwise outlive the test run
      reject(new Error(`loupe ${command} not ready within ${timeoutMs} ms:\n${logs.join('\n')}`));
    }, timeoutMs);
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        logs.push(line);
        if (line.includes('"msg":"ready"')) {
          clearTimeout(timer);
          const { httpUrl, mqttUrl } = JSON.parse(line) as { httpUrl: string; mqttUrl: string };
          resolve({ httpUrl, mqttUrl });
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`loupe ${command} exited with ${code} before ready:\n${logs.join('\n')}`));
    });
  });
  const { httpUrl, mqttUrl } = await ready;
  return {
    child,
    httpUrl,
    mqttUrl,
    dir: '',
    logs,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
        child.kill(signal);
      }),
  };
}

/** Runs `loupe ARGS` to completion and returns its exit code and output. */
export function runLoupe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'loupe.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += String(c)));
    child.stderr.on('data', (c) => (stderr += String(c)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`loupe ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A lowdb document that only its owner can read: people's password hashes and session ids must not
 * be readable by other accounts on the machine. lowdb's own file adapter writes a temporary file
 * and renames it, which gives the file the process's default mode on every write; this one creates
 * the temporary file as 0600 (and the folder as 0700), so there is never a moment the secrets are
 * readable by others.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LowSync, type SyncAdapter } from 'lowdb';

class PrivateJsonFile<T> implements SyncAdapter<T> {
  constructor(private readonly file: string) {}

  read(): T | null {
    if (!existsSync(this.file)) return null;
    chmodSync(this.file, 0o600); // a file from an earlier version may be readable by others
    return JSON.parse(readFileSync(this.file, 'utf8')) as T;
  }

  write(data: T): void {
    const temporary = path.join(path.dirname(this.file), `.${path.basename(this.file)}.tmp`);
    writeFileSync(temporary, JSON.stringify(data, null, 2), { mode: 0o600 });
    chmodSync(temporary, 0o600); // mode applies only when the file is created
    renameSync(temporary, this.file);
  }
}

/** Opens (or creates) a document under `dir`, which is made private (0700) too. */
export function privateDocument<T>(dir: string, name: string, defaults: T): LowSync<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const db = new LowSync<T>(new PrivateJsonFile<T>(path.join(dir, name)), defaults);
  db.read();
  return db;
}

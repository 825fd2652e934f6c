/** The Loupe version this process runs, as package.json says: stations report it in their status (the plant's fleet view). */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const SOFTWARE_VERSION: string = (
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;

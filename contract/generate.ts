/**
 * Writes the JSON Schema files kept in the repo (contract/schemas/*.json, config/schema.json) from
 * the TypeBox schemas the code validates against. `npm run schemas` runs it; a test fails when the
 * files and the code disagree, so the documented contract is always the enforced one.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { payloadSchemas } from './payloads.ts';
import { ConfigSchema } from '../config/schema.ts';

const root = path.resolve(import.meta.dirname, '..');

export function schemaFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, schema] of Object.entries(payloadSchemas)) {
    files.set(
      path.join(root, 'contract', 'schemas', `${name}.v1.json`),
      render({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema }),
    );
  }
  files.set(
    path.join(root, 'config', 'schema.json'),
    render({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'Loupe configuration', ...ConfigSchema }),
  );
  return files;
}

function render(schema: object): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  for (const [file, text] of schemaFiles()) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    console.log(`wrote ${path.relative(root, file)}`);
  }
}

/** The browser client's files (dashboard/web), served as they are: no build step, no cache surprises. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';
import { wordsModule } from '../../contract/words.ts';
import { fileAnswer } from '../../shared/http/schemas.ts';

const webDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'web');
const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** A route handler sending one file of the client; `no-cache` so a new release is picked up at once. */
export const asset = (file: string) => async (_request: unknown, reply: FastifyReply) =>
  reply
    .type(types[path.extname(file)])
    .header('cache-control', 'no-cache')
    .send(await readFile(path.join(webDir, file)));

/** `/words.js`: contract/words.ts as a browser module, so the browser and the server share one map. */
export const wordsAsset = () => {
  const text = wordsModule();
  return async (_request: unknown, reply: FastifyReply) =>
    reply.type(types['.js']).header('cache-control', 'no-cache').send(text);
};

/** The route schema of a file of the client: its answer documented by media type. */
export const assetAnswer = (file: string) => ({
  summary: `the client file ${file}`,
  response: { 200: fileAnswer(file, types[path.extname(file)].split(';')[0]) },
});

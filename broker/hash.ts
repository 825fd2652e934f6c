/**
 * Prints the scrypt hash of a password for `mqtt.users[].passwordHash`, so the config never holds a
 * clear-text secret: `npx tsx broker/hash.ts` reads the password from stdin (one line).
 */
import { hashSecret } from './access.ts';

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const secret = Buffer.concat(chunks).toString('utf8').split('\n')[0];
if (!secret) {
  console.error('usage: printf %s "$PASSWORD" | npx tsx broker/hash.ts');
  process.exitCode = 2;
} else console.log(await hashSecret(secret));

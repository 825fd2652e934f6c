/**
 * `loupe people`: who may use the dashboard, from the machine it runs on. This is how admin access is
 * recovered when every admin's password is lost (`set-password`), and it works while the dashboard
 * runs (the dashboard reads the people file again when it changes). Passwords are read from the
 * terminal without echo, or from the first line of stdin when it is not a terminal; never from an
 * argument, which would land in the shell history and the process list.
 */
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import { MIN_PASSWORD, People, ROLES, type Role } from '../dashboard/src/people.ts';
import { DEFAULT_CONFIG } from './options.ts';

const USAGE = `Usage: loupe people <command> [--config FILE]

  list                        the people registered, with their role
  add NAME [--role ROLE]      registers a person (ROLE: ${ROLES.join(', ')}; default technician)
  set-password NAME           sets a person's password and ends their sessions (recovers admin access)
  remove NAME                 removes a person and ends their sessions (never the last admin)

Passwords (at least ${MIN_PASSWORD} characters) are asked on the terminal, or read from the first line of stdin:
  echo 'a-long-password' | loupe people set-password admin
The people live in <dataDir>/dashboard/people.json (dataDir from --config, default ${DEFAULT_CONFIG}).`;

export default async function people(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', default: DEFAULT_CONFIG },
        role: { type: 'string', default: 'technician' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`loupe people: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, name] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['list', 'add', 'set-password', 'remove'].includes(command)) {
    console.error(`loupe people: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (command !== 'list' && !name) {
    console.error(`loupe people ${command}: give the person's name, e.g. loupe people ${command} admin`);
    return 2;
  }
  let dataDir: string;
  try {
    dataDir = (await loadConfig(values.config as string)).dataDir;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const book = new People(path.resolve(dataDir, 'dashboard'), 12);

  if (command === 'list') {
    const all = book.list();
    if (all.length === 0) console.log('nobody is registered yet: the first start creates the first admin');
    const width = Math.max(4, ...all.map((p) => p.name.length));
    for (const p of all)
      console.log(`${p.name.padEnd(width)}  ${p.role.padEnd(10)}  since ${p.createdAt.slice(0, 16).replace('T', ' ')}`);
    return 0;
  }
  if (command === 'remove') {
    if (book.isLastAdmin(name)) {
      console.error(`loupe people: ${name} is the last admin; add another admin first`);
      return 1;
    }
    if (!book.remove(name)) {
      console.error(`loupe people: no person called "${name}" (loupe people list shows who is registered)`);
      return 1;
    }
    console.log(`removed ${name}; their sessions are ended`);
    return 0;
  }
  const role = values.role as Role;
  if (command === 'add' && !ROLES.includes(role)) {
    console.error(`loupe people: --role got "${role}"; allowed: ${ROLES.join(', ')}`);
    return 2;
  }
  if (command === 'set-password' && !book.list().some((p) => p.name === name)) {
    console.error(
      `loupe people: no person called "${name}" (loupe people list shows who is registered; loupe people add ${name} --role admin registers one)`,
    );
    return 1;
  }
  const password = await readPassword(`password for ${name}: `);
  if (password === null) {
    console.error('loupe people: the two passwords differ; nothing changed');
    return 1;
  }
  const outcome = command === 'add' ? await book.add(name, role, password) : await book.setPassword(name, password);
  if (!outcome.ok) {
    console.error(`loupe people: ${outcome.message}`);
    return 1;
  }
  console.log(command === 'add' ? `added ${name} (${role})` : `password of ${name} set; their sessions are ended`);
  return 0;
}

/** A password from the terminal (asked twice, no echo) or the first line of stdin; null when the two differ. */
async function readPassword(prompt: string): Promise<string | null> {
  if (!process.stdin.isTTY) {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text.split(/\r?\n/)[0];
  }
  const ask = (question: string) =>
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const output = rl as unknown as { _writeToOutput: (s: string) => void };
      rl.question(question, (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      });
      output._writeToOutput = () => {}; // no echo after the prompt
      process.stderr.write(question);
    });
  const first = await ask(prompt);
  const second = await ask('again: ');
  return first === second ? first : null;
}

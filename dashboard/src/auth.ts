/**
 * Who may do what on the HTTP server. Every route is closed unless it says otherwise in its route
 * config (`config: { access: 'public' | 'technician' | 'manager' | 'admin' }`, default technician):
 * a route added later without thinking about access is refused to strangers, not opened to them.
 *
 * A session is a random id in a signed, HttpOnly, SameSite=Strict cookie. State-changing requests
 * must also echo the session's CSRF token in `x-csrf-token`, and come from our own origin when the
 * browser says where they come from. Security headers and rate limits are their own plugins
 * (shared/http/security.ts, shared/http/limits.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { Answer, refusals } from '../../shared/http/schemas.ts';
import { asset, assetAnswer } from './assets.ts';
import { allows, MIN_PASSWORD, NAME_PATTERN, People, ROLES, type Role, type Session } from './people.ts';

export type Access = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    person: Session | null;
  }
}

export const SESSION_COOKIE = 'loupe_session';

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));
const SessionAnswer = Answer(
  {
    name: Type.String(),
    role: RoleSchema,
    csrf: Type.String({ description: 'echo it in x-csrf-token on every state-changing request' }),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  'who is logged in, and the CSRF token of the session',
);
const PersonAnswer = Answer({ name: Type.String(), role: RoleSchema, createdAt: Type.String({ format: 'date-time' }) });
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });

export interface AuthOptions {
  people: People;
  /** signs the session cookie; kept in the data folder so a restart keeps people logged in */
  secret: string;
  /** Secure cookies: on when the dashboard is served over HTTPS (behind a proxy) */
  secureCookies: boolean;
  sessionHours: number;
}

/** The cookie-signing secret of this installation, made on first start (readable by its owner only). */
export function cookieSecret(dir: string): string {
  const file = path.join(dir, 'cookie-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

/**
 * The first admin, on a first start with nobody registered: from LOUPE_ADMIN_USER /
 * LOUPE_ADMIN_PASSWORD or the config; without a password, a random one is made and shown once in
 * the log. There is never a built-in default password.
 */
export async function ensureFirstAdmin(
  people: People,
  configured: { user?: string; password?: string } | undefined,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<void> {
  if (people.count > 0) {
    if (env.LOUPE_ADMIN_PASSWORD || configured?.password) {
      log.warn(
        { people: people.count },
        `${env.LOUPE_ADMIN_PASSWORD ? 'LOUPE_ADMIN_PASSWORD' : 'dashboard.admin.password'} is ignored: people are already registered. To recover access: loupe people set-password NAME (loupe people list shows the admins)`,
      );
    }
    return;
  }
  const name = env.LOUPE_ADMIN_USER || configured?.user || 'admin';
  let password = env.LOUPE_ADMIN_PASSWORD || configured?.password;
  const generated = !password;
  password ??= randomBytes(12).toString('base64url');
  const added = await people.add(name, 'admin', password);
  if (!added.ok)
    throw new Error(
      `cannot create the first admin "${name}": ${added.message} (set LOUPE_ADMIN_USER / LOUPE_ADMIN_PASSWORD or dashboard.admin)`,
    );
  if (generated) {
    log.warn(
      { user: name },
      'first admin created with a generated password (shown once on stderr); set LOUPE_ADMIN_PASSWORD to choose it',
    );
    // Written out before the start goes on to say "ready": whoever waits for that line finds the password before it.
    await new Promise<void>((resolve) =>
      process.stderr.write(
        `\n  First start: admin "${name}" created with password  ${password}\n  Keep it now; it is not shown again.\n`,
        () => resolve(),
      ),
    );
  } else log.info({ user: name }, 'first admin created');
}

/** Installs on the root server (not as an encapsulated plugin), so its hooks see every route. */
export async function installAuth<L extends FastifyBaseLogger>(
  plain: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  options: AuthOptions,
): Promise<void> {
  const app = plain.withTypeProvider<TypeBoxTypeProvider>();
  const { people } = options;
  await app.register(cookie, { secret: options.secret });
  app.decorateRequest('person', null);

  const sessionOf = (request: FastifyRequest): Session | 'expired' | null => {
    const raw = request.cookies[SESSION_COOKIE];
    if (!raw) return null;
    const unsigned = request.unsignCookie(raw);
    return unsigned.valid && unsigned.value ? people.session(unsigned.value) : null;
  };

  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config?.access ?? 'technician';
    if (access === 'public') return;
    const session = sessionOf(request);
    if (session === null || session === 'expired') {
      if (wantsPage(request))
        return reply.redirect(
          `/login?next=${encodeURIComponent(request.url)}${session === 'expired' ? '&expired=1' : ''}`,
        );
      return reply
        .code(401)
        .send(
          session === 'expired'
            ? { error: 'session_expired', message: 'your session has expired; log in again' }
            : { error: 'unauthenticated', message: 'log in first (POST /api/login)' },
        );
    }
    if (!allows(session.role, access)) {
      const message = `this needs the ${access} role; ${session.name} is ${session.role}`;
      if (wantsPage(request))
        return reply.code(403).type('text/html; charset=utf-8').send(forbiddenPage(access, session));
      return reply.code(403).send({ error: 'forbidden', message });
    }
    // A WebSocket upgrade is a GET a browser makes from any page, with the cookie: the feed is only
    // for pages of our own origin (browsers always send Origin on an upgrade).
    if (request.headers.upgrade !== undefined) {
      const refused = crossSite(request);
      if (refused) return reply.code(403).send({ error: 'csrf', message: refused });
    }
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      const refused =
        crossSite(request) ??
        (request.headers['x-csrf-token'] === session.csrf
          ? null
          : 'missing or wrong x-csrf-token header (GET /api/session gives it)');
      if (refused) return reply.code(403).send({ error: 'csrf', message: refused });
    }
    request.person = session;
  });

  for (const file of ['login.js', 'next.js', 'app.css'])
    app.get(`/${file}`, { config: { access: 'public' }, schema: assetAnswer(file) }, asset(file));
  app.get('/login', { config: { access: 'public' }, schema: assetAnswer('login.html') }, asset('login.html'));

  app.post(
    '/api/login',
    {
      // A ceiling on login attempts per address, under the per-name and per-source throttle (throttle.ts).
      config: { access: 'public', rateLimit: { max: 60, timeWindow: 60_000 } },
      schema: {
        summary: 'log in: sets the session cookie',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: 1024 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: SessionAnswer, ...refusals(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const refused = crossSite(request);
      if (refused) return reply.code(403).send({ error: 'csrf', message: refused });
      const outcome = await people.login(request.body.name, request.body.password, request.ip);
      if (!outcome.ok) {
        request.log.warn({ user: request.body.name, code: outcome.code, source: request.ip }, 'login refused');
        if (outcome.retryAfterS !== undefined) reply.header('retry-after', String(outcome.retryAfterS));
        return reply
          .code(({ locked: 429, busy: 503, bad_credentials: 401 } as const)[outcome.code])
          .send({ error: outcome.code, message: outcome.message });
      }
      request.log.info({ user: outcome.session.name, role: outcome.session.role }, 'logged in');
      reply.setCookie(SESSION_COOKIE, outcome.session.id, {
        signed: true,
        httpOnly: true,
        sameSite: 'strict',
        secure: options.secureCookies,
        path: '/',
        maxAge: options.sessionHours * 3600,
      });
      return describe(outcome.session);
    },
  );

  const signedIn = refusals(401, 403);
  app.get(
    '/api/session',
    { schema: { summary: 'who is logged in', response: { 200: SessionAnswer, ...signedIn } } },
    async (request) => describe(request.person as Session),
  );

  app.post(
    '/api/logout',
    {
      schema: {
        summary: 'end this session',
        response: { 200: Answer({ loggedOut: Type.Literal(true) }), ...signedIn },
      },
    },
    async (request, reply) => {
      people.logout((request.person as Session).id);
      return reply.clearCookie(SESSION_COOKIE, { path: '/' }).send({ loggedOut: true });
    },
  );

  app.get(
    '/api/people',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'the people who may log in, and their roles',
        response: { 200: Type.Array(PersonAnswer), ...signedIn },
      },
    },
    async () => people.list(),
  );
  app.post(
    '/api/people',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'add a person',
        body: Type.Object(
          {
            name: Type.String({ pattern: NAME_PATTERN }),
            role: RoleSchema,
            password: Type.String({ minLength: MIN_PASSWORD, maxLength: 1024 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Answer({ name: Type.String(), role: RoleSchema }), ...refusals(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const added = await people.add(request.body.name, request.body.role, request.body.password);
      if (!added.ok)
        return reply.code(added.code === 'exists' ? 409 : 400).send({ error: added.code, message: added.message });
      request.log.info({ user: request.body.name, role: request.body.role, by: request.person?.name }, 'person added');
      return reply.code(201).send({ name: request.body.name, role: request.body.role });
    },
  );
  app.post(
    '/api/people/:name/password',
    {
      config: { access: 'admin' },
      schema: {
        summary: "set a person's password (their sessions end)",
        params: NameParams,
        body: Type.Object(
          { password: Type.String({ minLength: MIN_PASSWORD, maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Answer({ name: Type.String(), passwordSet: Type.Literal(true) }),
          ...refusals(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const changed = await people.setPassword(request.params.name, request.body.password);
      if (!changed.ok)
        return reply
          .code(changed.code === 'unknown_person' ? 404 : 400)
          .send({ error: changed.code, message: changed.message });
      request.log.warn({ user: request.params.name, by: request.person?.name }, 'password set; their sessions ended');
      return { name: request.params.name, passwordSet: true as const };
    },
  );
  const removal = {
    summary: 'remove a person (their sessions end)',
    params: NameParams,
    response: { 200: Answer({ removed: Type.String() }), ...refusals(400, 401, 403, 404) },
  };
  app.delete('/api/people/:name', { config: { access: 'admin' }, schema: removal }, async (request, reply) => {
    if (request.params.name === request.person?.name)
      return reply.code(400).send({ error: 'self', message: 'an admin cannot remove themselves' });
    if (people.isLastAdmin(request.params.name))
      return reply
        .code(400)
        .send({ error: 'last_admin', message: `${request.params.name} is the last admin; add another admin first` });
    if (!people.remove(request.params.name))
      return reply.code(404).send({ error: 'unknown_person', message: `no person called "${request.params.name}"` });
    return { removed: request.params.name };
  });
}

/** A GET for a page (not the API, not the feed) from a browser: answered with a page, not JSON. */
function wantsPage(request: FastifyRequest): boolean {
  return (
    request.method === 'GET' &&
    (request.headers.accept ?? '').includes('text/html') &&
    !request.url.startsWith('/api/') &&
    request.url !== '/ws'
  );
}

const PAGE_NAMES: Record<string, string> = { manager: 'managers', admin: 'admins', technician: 'technicians' };

/** What a person sees who opens a page their role does not include: who they are, and the way back. */
function forbiddenPage(access: Access, session: Session): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Loupe · not for your role</title><link rel="stylesheet" href="/app.css"></head>
<body class="login"><main id="login" class="refused"><h1>Loupe</h1>
<p>This page is for ${PAGE_NAMES[access] ?? access}.</p>
<p class="muted">You are logged in as <strong>${escape(session.name)}</strong> (${session.role}). Ask an admin if you need it.</p>
<a class="button big accept" href="/">Back to the review queue</a>
</main></body></html>
`;
}

function describe(session: Session) {
  return {
    name: session.name,
    role: session.role,
    csrf: session.csrf,
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

/** Why a state-changing request is refused as coming from another site, or null when it is ours. */
function crossSite(request: FastifyRequest): string | null {
  const origin = request.headers.origin;
  if (!origin) return null; // not a browser, or a same-origin request from an old one; the CSRF token still applies
  try {
    if (new URL(origin).host === request.headers.host) return null;
  } catch {
    // fall through
  }
  return `requests from ${origin} are refused; use the dashboard at ${request.headers.host ?? 'its own address'}`;
}

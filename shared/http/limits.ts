/**
 * Rate limits from @fastify/rate-limit, per route: a route that needs a ceiling says so in its
 * config (`config: { rateLimit: { max, timeWindow } }`; the login has one, under the per-name and
 * per-source throttle of dashboard/src/throttle.ts). No global limit: frame ingest and the live
 * screens must never be slowed by a counter meant for people typing passwords.
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { Refused } from './errors.ts';

export const rateLimits = fp(
  async (app) => {
    await app.register(rateLimit, {
      global: false,
      // Thrown, and answered by the one error handler (errors.ts) as { error, message }.
      errorResponseBuilder: (_request, context) =>
        new Refused(
          context.statusCode,
          'too_many_requests',
          `too many requests from here: at most ${context.max} in ${context.after}; try again then`,
        ),
    });
  },
  { name: 'loupe-rate-limits' },
);

/**
 * Security headers on every answer, from @fastify/helmet: a Content-Security-Policy that lets the
 * dashboard's own scripts, styles, images (and drawn maps as data: or blob: URLs) and its WebSocket
 * feed in, and nothing from elsewhere; no framing; no referrer; HSTS only when the dashboard is
 * served over HTTPS (`secureCookies`), since a plain-HTTP tablet on the line must not be told to
 * upgrade. The policy has no defaults added (`useDefaults: false`): `upgrade-insecure-requests`
 * would break the plain-HTTP case the same way.
 */
import fp from 'fastify-plugin';
import helmet from '@fastify/helmet';

export const securityHeaders = fp<{ https: boolean }>(
  async (app, { https }) => {
    await app.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          imgSrc: ["'self'", 'data:', 'blob:'],
          styleSrc: ["'self'"],
          scriptSrc: ["'self'"],
          connectSrc: ["'self'"],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
        },
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginOpenerPolicy: { policy: 'same-origin' },
      crossOriginResourcePolicy: { policy: 'same-origin' },
      strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    });
    // Helmet does not set Permissions-Policy: the dashboard uses no camera, microphone or location.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
    });
  },
  { name: 'loupe-security-headers' },
);

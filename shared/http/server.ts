/**
 * What every Loupe HTTP server is made of before its routes: the TypeBox type provider (route
 * schemas are the only source of request and answer types), one error handler and its answer
 * shape (errors.ts), the generated OpenAPI document (openapi.ts), security headers (security.ts)
 * and rate limits (limits.ts). Each is a plugin; this registers them in the order they need (the
 * OpenAPI generator must see every route, so it comes before any).
 */
import type { FastifyBaseLogger, FastifyContextConfig, FastifyInstance, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { errorAnswers } from './errors.ts';
import { openApi } from './openapi.ts';
import { securityHeaders } from './security.ts';
import { rateLimits } from './limits.ts';

/** A Fastify server whose routes take their types from their TypeBox schemas. */
export type TypedApp<L extends FastifyBaseLogger = FastifyBaseLogger> = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  L,
  TypeBoxTypeProvider
>;

export interface FoundationOptions {
  title: string;
  description: string;
  /** the access of `GET /api/openapi.json` */
  openApiConfig?: FastifyContextConfig;
  /** served over HTTPS (behind a proxy): send HSTS */
  https?: boolean;
}

/** Answers checked against their schemas before they leave (openapi.ts): on in the tests. */
export const checkAnswers = () => process.env.LOUPE_CHECK_ANSWERS === '1';

export async function httpFoundation<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  options: FoundationOptions,
): Promise<TypedApp<L>> {
  await app.register(errorAnswers);
  await app.register(securityHeaders, { https: options.https ?? false });
  await app.register(rateLimits);
  await app.register(openApi, {
    title: options.title,
    description: options.description,
    routeConfig: options.openApiConfig,
    checkAnswers: checkAnswers(),
  });
  return app.withTypeProvider<TypeBoxTypeProvider>();
}

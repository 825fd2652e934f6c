/**
 * One error handler for the whole HTTP server: a schema's refusal of a request (400, naming the
 * parameter), a domain refusal thrown as `Refused`, Fastify's own refusals (body too large, wrong
 * media type, malformed JSON) and failures (500, logged) all answer `{ error, param?, message }`.
 * A route may word its refusals itself (`config.explain`: frame ingest names the part and the
 * limit) and rename the validation codes (`config.codes`: the defect log's filters).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/** A refusal a handler throws: answered as `{ error: code, param?, message, ...details }` with `status`. */
export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'Refused';
  }
}

export type Refusal = {
  status: number;
  body: { error: string; param?: string; message: string } & Record<string, unknown>;
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the route's own words for an error; undefined: the common ones */
    explain?: (error: FastifyError, request: FastifyRequest) => Refusal | undefined;
    /** codes for a request the schema refuses: a parameter not known, or a value not allowed */
    codes?: { unknown: string; invalid: string };
  }
}

type Issue = {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  schema?: unknown;
  parentSchema?: { anyOf?: { const?: unknown }[] };
};
const WHERE: Record<string, string> = { querystring: 'query', params: 'path', body: 'body', headers: 'header' };

/** The refusal for a request its route's schema does not allow, naming the parameter. */
export function validationRefusal(error: FastifyError, request: FastifyRequest): Refusal {
  const codes = request.routeOptions.config?.codes ?? { unknown: 'unknown_param', invalid: 'invalid_request' };
  const issues = (error.validation ?? []) as unknown as Issue[];
  const issue =
    issues.find((i) => i.keyword === 'additionalProperties') ??
    issues.find((i) => i.keyword === 'required') ??
    issues[0];
  const context = error.validationContext ?? 'body';
  const source = (
    context === 'querystring'
      ? request.query
      : context === 'params'
        ? request.params
        : context === 'body'
          ? request.body
          : {}
  ) as Record<string, unknown> | undefined;
  if (issue?.keyword === 'additionalProperties') {
    const param = String(issue.params.additionalProperty);
    return {
      status: 400,
      body: { error: codes.unknown, param, message: `${param}: unknown ${WHERE[context] ?? context} parameter` },
    };
  }
  if (issue?.keyword === 'required') {
    const param = [issue.instancePath.split('/').filter(Boolean).join('.'), String(issue.params.missingProperty)]
      .filter(Boolean)
      .join('.');
    return { status: 400, body: { error: codes.invalid, param, message: `${param}: missing` } };
  }
  const param = issue?.instancePath.split('/').filter(Boolean)[0] ?? context;
  const value = source && typeof source === 'object' ? source[param] : undefined;
  const shown = Array.isArray(value) ? 'more than one value' : value === undefined ? '' : `got "${String(value)}"; `;
  const allowed = issues
    .filter((i) => i.keyword === 'const' && i.instancePath === issue?.instancePath)
    .map((i) => String(i.params.allowedValue));
  const rule = allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : (issue?.message ?? error.message);
  return {
    status: 400,
    body: {
      error: codes.invalid,
      param,
      message: Array.isArray(value) ? `${param}: given more than once` : `${param}: ${shown}${rule}`,
    },
  };
}

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
  FST_ERR_RATE_LIMIT_EXCEEDED: 'too_many_requests',
};

export const errorAnswers = fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply: FastifyReply) => {
      const explained = request.routeOptions.config?.explain?.(error, request);
      if (explained) return reply.code(explained.status).send(explained.body);
      if (error instanceof Refused)
        return reply.code(error.status).send({
          error: error.code,
          ...(error.param ? { param: error.param } : {}),
          message: error.message,
          ...error.details,
        });
      if (error.validation) {
        const refusal = validationRefusal(error, request);
        return reply.code(refusal.status).send(refusal.body);
      }
      const status = error.statusCode ?? 500;
      if (status < 500)
        return reply
          .code(status)
          .send({ error: FASTIFY_CODES[error.code] ?? 'invalid_request', message: error.message });
      request.log.error({ err: error, url: request.url }, 'request failed');
      return reply
        .code(status)
        .send({ error: 'internal', message: `the server failed on this request (${error.message}); see its log` });
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
    );
  },
  { name: 'loupe-error-answers' },
);

import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fastifyHelmet from '@fastify/helmet'
import fastifyJwt from '@fastify/jwt'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import type { Runtime } from './runtime.ts'
import { authenticate } from './http/auth.ts'
import { bindClientCertificate } from './http/channel.ts'
import { installErrorHandler } from './http/error-handler.ts'
import { Problem } from './http/problems.ts'
import { directoryRoutes } from './http/routes/directory.ts'
import { exchangeRoutes } from './http/routes/exchanges.ts'
import { healthRoutes, type ReadinessCheck } from './http/routes/health.ts'
import { messageRoutes, recordEarlyRejection } from './http/routes/messages.ts'
import type { IntakeDeps } from './intake/intake.ts'
import { loadMessageSchema } from './intake/message.ts'
import { KeyCache } from './intake/verify.ts'

export interface AppOptions {
  /** Fastify options (logger, https, timeouts). */
  fastify?: FastifyServerOptions
  /** Extra readiness checks (the audit sealer adds one). */
  readiness?: ReadinessCheck[]
  /** Returns a problem while intake must refuse (fail closed), undefined otherwise. */
  intakeGate?: () => Problem | undefined
  /** Plugins registered after the core routes (delivery, audit), given the app. */
  extensions?: ((app: FastifyInstance) => Promise<void>)[]
}

/**
 * Builds the Fastify app from the runtime: plugins, the one error handler, routes. The server
 * and the tests call this; tests use `app.inject()` on it.
 */
export async function buildApp(rt: Runtime, opts: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = rt
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    // Agencies' systems send ids and timestamps only in headers; keep them short.
    routerOptions: { maxParamLength: 200 },
    requestIdHeader: 'x-request-id',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    ...opts.fastify,
  })

  // A compact JWS is text; keep it as the exact string received.
  app.addContentTypeParser('application/jose', { parseAs: 'string', bodyLimit: config.bodyLimitBytes }, (_req, body, done) => done(null, body))

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'leix',
        version: '0.1.0',
        description: 'Secure law-enforcement information exchange for the Berlin Process parties. Errors are application/problem+json with type urn:leix:problem:<code>.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (EdDSA; claims sub, agency, roles)' } },
        schemas: { Message: stripId(loadMessageSchema()) },
      },
    },
  })
  await app.register(fastifyHelmet, { global: true })
  await app.register(fastifyRateLimit, {
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    // Health probes are the orchestrator's, not a client's.
    allowList: (request) => request.url.startsWith('/health/'),
  })
  await app.register(fastifyJwt, {
    secret: { public: rt.tokenKeys.publicPem, ...(rt.tokenKeys.privatePem ? { private: rt.tokenKeys.privatePem } : {}) },
    sign: { algorithm: 'EdDSA', iss: config.tokenIssuer, expiresIn: '1h' },
    verify: { algorithms: ['EdDSA'], allowedIss: config.tokenIssuer },
  })

  const intake: IntakeDeps = {
    pool: rt.pool,
    directory: rt.directory,
    brokerKey: rt.brokerKey,
    clock: rt.clock,
    queue: rt.queue,
    validateMessage: rt.validateMessage,
    limits: { maxSkewSeconds: config.maxSkewSeconds, maxAgeSeconds: config.maxAgeSeconds },
    log: app.log,
    keys: new KeyCache(),
  }
  installErrorHandler(app, (request, problem) => recordEarlyRejection(intake, request, problem))
  app.addHook('onRequest', bindClientCertificate(rt.directory))
  // Echo the request id so an integrator can quote it when asking what happened.
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  const auth = authenticate(rt.directory)

  await app.register(async (scope) => {
    await messageRoutes(scope, { intake, bodyLimit: config.bodyLimitBytes, gate: opts.intakeGate ?? (() => undefined) })
    await exchangeRoutes(scope, { pool: rt.pool, clock: rt.clock, authenticate: auth })
    await directoryRoutes(scope, { directory: rt.directory, brokerKey: rt.brokerKey })
    await healthRoutes(scope, { pool: rt.pool, sealerPool: rt.sealerPool, redis: rt.redis, ...(opts.readiness ? { extra: opts.readiness } : {}) })
    for (const extension of opts.extensions ?? []) await extension(scope)
  })

  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger())
  return app
}

function stripId(schema: Record<string, unknown>): Record<string, unknown> {
  const { $id: _id, $schema: _schema, ...rest } = schema
  return rest
}

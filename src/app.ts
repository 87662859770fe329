import { createPublicKey, randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fastifyHelmet from '@fastify/helmet'
import fastifyJwt from '@fastify/jwt'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { finishDocument, packageVersion } from './http/openapi.ts'
import type { Services } from './background.ts'
import type { Runtime } from './runtime.ts'
import { authenticate } from './http/auth.ts'
import { bindClientCertificate } from './http/channel.ts'
import { raiseAlarm } from './audit/integrity.ts'
import { trustProxyOption } from './config/config.ts'
import { installErrorHandler, answerClientError, sendProblem, toProblem, RETRY_AFTER_SECONDS } from './http/error-handler.ts'
import { controlCharacterPath, ENCODED_CONTROL, hasControlCharacter, isBoundedInstant } from './store/input.ts'
import { RejectionCounter } from './intake/rejections.ts'
import { DomainError } from './errors.ts'
import { shutdownHooks } from './http/shutdown.ts'
import { adminRoutes } from './http/routes/admin.ts'
import { reloadRoutes } from './http/routes/reload.ts'
import { auditRoutes } from './http/routes/audit.ts'
import { consultRoutes } from './http/routes/consult.ts'
import { consoleRoutes } from './http/routes/console.ts'
import { directoryRoutes } from './http/routes/directory.ts'
import { evidenceRoutes } from './http/routes/evidence.ts'
import { exchangeRoutes } from './http/routes/exchanges.ts'
import { lineageRoutes } from './http/routes/lineage.ts'
import { reportRoutes } from './http/routes/reports.ts'
import { healthRoutes } from './http/routes/health.ts'
import { readinessCounts } from './observability/counts.ts'
import { inboxRoutes } from './http/routes/inbox.ts'
import { messageRoutes } from './http/routes/messages.ts'
import { notificationRoutes } from './http/routes/notifications.ts'
import { witnessedCheckpointRoutes, witnessRoutes } from './http/routes/witness.ts'
import { cosignedNote } from './audit/witness-service.ts'
import { every, type Periodic } from './periodic.ts'
import type { IntakeDeps } from './intake/intake.ts'
import { loadMessageSchema } from './intake/message.ts'
import { GroupCommit } from './store/group-commit.ts'
import fastifyUnderPressure from '@fastify/under-pressure'
import { KeyCache } from './intake/verify.ts'

export interface AppOptions {
  /** Fastify options (logger, https, timeouts). */
  fastify?: FastifyServerOptions
  /** Where the logger writes (tests capture it). @defaultValue stdout */
  logStream?: NodeJS.WritableStream
}

/** What the routes take from the background services (background.ts). */
export type AppServices = Pick<Services, 'witness' | 'readiness' | 'intakeGate'>

/**
 * Builds the Fastify app from the runtime and the started services: plugins, the one error
 * handler, and every route group (at the end). The server and the tests call this; tests use
 * `app.inject()` on it.
 */
export async function buildApp (rt: Runtime, services: AppServices, opts: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = rt
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Secrets and justifications (personal data) never reach the logs; neither do query values.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["leix-justification"]', 'req.headers["proxy-authorization"]'], censor: '[redacted]' },
      ...(opts.logStream ? { stream: opts.logStream } : {}),
      serializers: {
        req: (req: { method: string; url: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
          method: req.method, url: req.url.split('?')[0], remoteAddress: req.ip ?? req.socket?.remoteAddress,
        }),
      },
    },
    bodyLimit: config.bodyLimitBytes,
    // Agencies' systems send ids and timestamps only in headers; keep them short.
    routerOptions: { maxParamLength: 200 },
    trustProxy: trustProxyOption(config.trustProxy),
    // A client's request id is echoed only when short and well-formed; otherwise leix makes one.
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(given) ? given : randomUUID()
    },
    // Errors the HTTP parser raises before Fastify sees a request (431, malformed requests) are problems too.
    clientErrorHandler: answerClientError,
    frameworkErrors: (err: Error, request: FastifyRequest, reply: FastifyReply) => {
      sendProblem(reply, new DomainError('bad-request', `the request URL cannot be parsed (${(err as { code?: string }).code ?? 'bad URL'})`), request)
    },
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true },
      // Every `date-time` is an instant PostgreSQL can hold (1970..9999, four-digit year).
      onCreate: (ajv: { addFormat(name: string, format: (s: string) => boolean): unknown }) => {
        ajv.addFormat('date-time', isBoundedInstant)
      },
    },
    // Late requests during shutdown get a problem+json 503 from shutdownHooks, not Fastify's plain one.
    return503OnClosing: false,
    // Probes every few seconds would drown the log: the health routes log one debug line each.
    logController: new LogController({ disableRequestLogging: (req: FastifyRequest) => req.url.startsWith('/health/') }),
    ...opts.fastify,
  } as FastifyServerOptions)
  shutdownHooks(app)
  // Bad percent-encoding in the path and the like: Fastify's own errors, answered as problems.

  // Bodies are JSON or a JWS; anything else is 415, not a string for the schema to puzzle over.
  app.removeContentTypeParser('text/plain')
  // A compact JWS is text; keep it as the exact string received.
  app.addContentTypeParser('application/jose', { parseAs: 'string', bodyLimit: config.bodyLimitBytes }, (_req, body, done) => done(null, body))

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'leix',
        version: packageVersion(),
        description: 'Secure law-enforcement information exchange for the Berlin Process parties. Errors are application/problem+json with type urn:leix:problem:<code>.',
        license: { name: 'EUPL-1.2', identifier: 'EUPL-1.2' },
      },
      // Relative: the document is right wherever the broker is reached (behind a proxy, on any host).
      servers: [{ url: '/', description: 'this broker' }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (EdDSA; claims sub, agency, roles)' } },
        schemas: { Message: stripId(loadMessageSchema()) },
      },
    },
    transformObject: (documents) => finishDocument('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject),
  })
  // The reference page at /docs (and the document at /docs/json): Swagger UI from the package's own
  // files, so it works under helmet's CSP (script-src 'self') and the browser asks no other host.
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } })
  await app.register(fastifyHelmet, { global: true })
  // Submissions that open an exchange share statements and commits (src/store/group-commit.ts).
  const commits = new GroupCommit(rt.pool)
  // Load shedding before any other work: above what the gateway sustains, a request is refused at
  // once with 503 overloaded and Retry-After rather than queued until its client times out.
  // Health probes are never shed (the operations listener, /metrics, is a separate server).
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: config.shedEventLoopDelayMs,
    sampleInterval: 200,
    retryAfter: RETRY_AFTER_SECONDS,
    healthCheckInterval: 100,
    // Checked every 100 ms: what waits for PostgreSQL, beyond the thresholds, is a backlog.
    healthCheck: async () =>
      !(config.shedPendingIntake > 0 && commits.pending > config.shedPendingIntake) &&
      !(config.shedPoolWaiting > 0 && rt.pool.waitingCount > config.shedPoolWaiting),
    pressureHandler: async (request: FastifyRequest, reply: FastifyReply, type: string) => {
      if (request.url.startsWith('/health/')) return
      rt.metrics.shed.inc({ reason: type })
      reply.header('retry-after', String(RETRY_AFTER_SECONDS))
      throw new DomainError('overloaded', `this gateway is above the load it sustains (${type}); retry after ${RETRY_AFTER_SECONDS} s`)
    },
  })
  // Limits come before any other work, shared by every gateway through Redis: per client address
  // first (the first onRequest hook), then per agency once a certificate or token names it.
  await app.register(fastifyRateLimit, {
    global: false,
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    redis: rt.redis,
    nameSpace: `${config.queuePrefix}:rate:`,
    // A Redis outage must not stop the gateway; readiness reports Redis.
    skipOnError: true,
  })
  const limit = (key: (request: FastifyRequest) => string) => {
    const check = app.createRateLimit({ keyGenerator: key })
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (request.url.startsWith('/health/')) return // the orchestrator's probes, not a client's
      // While Redis is unreachable the limits stay open (readiness reports the outage) rather than
      // every request waiting for ioredis's retries.
      let timer: ReturnType<typeof setTimeout> | undefined
      const verdict = await Promise.race([
        check(request),
        new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), 500) }),
      ]).finally(() => clearTimeout(timer))
      if (verdict && !verdict.isAllowed && verdict.isExceeded) {
        reply.header('retry-after', String(verdict.ttlInSeconds))
        throw new DomainError('rate-limited', `more than ${verdict.max} requests a minute; retry in ${verdict.ttlInSeconds} s`)
      }
    }
  }
  app.addHook('onRequest', limit((request) => `ip:${request.ip}`))
  const agencyLimit = limit((request) => `agency:${request.principal?.agency ?? request.channelAgency ?? ''}`)
  app.decorate('leixAgencyLimit', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.channelAgency) return // already counted for its certificate
    await agencyLimit(request, reply)
  })
  // Input hygiene before anything reads it: no control characters in the URL or in headers.
  app.addHook('onRequest', async (request) => {
    if (request.url.length > 8192) throw new DomainError('uri-too-long', 'the request URL is longer than 8192 characters')
    if (ENCODED_CONTROL.test(request.url) || hasControlCharacter(request.url)) throw new DomainError('bad-request', 'the URL contains a control character')
    for (const [name, value] of Object.entries(request.headers)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v === 'string' && hasControlCharacter(v.replace(/\t/g, ' '))) throw new DomainError('bad-request', `header ${name} contains a control character`)
      }
    }
  })
  app.addHook('preValidation', async (request) => {
    // Ajv's type coercion reads "1e400" as Infinity and "0x1F" as 31; integers in the URL are
    // plain decimal digits (at most 15: within Number.MAX_SAFE_INTEGER and PostgreSQL's bigint).
    const schema = request.routeOptions.schema as { querystring?: { properties?: Record<string, { type?: unknown }> }; params?: { properties?: Record<string, { type?: unknown }> } } | undefined
    for (const [part, values] of [['querystring', request.query], ['params', request.params]] as const) {
      const properties = schema?.[part]?.properties
      if (!properties || values === null || typeof values !== 'object') continue
      for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
        const type = properties[name]?.type
        if (type !== 'integer' && type !== 'number') continue
        for (const v of Array.isArray(value) ? value : [value]) {
          if (typeof v === 'string' && !/^(0|[1-9]\d{0,14})$/.test(v)) throw new DomainError('bad-request', `${name} must be a non-negative decimal integer of at most 15 digits`)
        }
      }
    }
    if (request.body !== null && typeof request.body === 'object') {
      const at = controlCharacterPath(request.body, { lines: true })
      if (at !== undefined) throw new DomainError('bad-request', `the body has a control character at ${at}`)
    }
  })
  // Only where tokens are minted (development, tests): the gateway verifies with src/http/auth.ts.
  if (rt.tokenKeys.privatePem) {
    await app.register(fastifyJwt, {
      secret: { private: rt.tokenKeys.privatePem, public: createPublicKey(rt.tokenKeys.privatePem).export({ type: 'spki', format: 'pem' }).toString() },
      sign: { algorithm: 'EdDSA', iss: config.tokenIssuer, aud: config.tokenAudience, expiresIn: `${Math.min(3600, config.tokenMaxLifetimeSeconds)}s`, kid: rt.tokenKeys.kid },
    })
  }

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
    rejections: new RejectionCounter({ redis: rt.redis, pool: rt.pool, clock: rt.clock, prefix: config.queuePrefix, log: app.log }),
    commits,
  }
  app.decorate('leixRejections', intake.rejections)
  // Counts of refused unidentified requests become events once their window has ended.
  let flushing: Periodic | undefined
  app.addHook('onReady', async () => {
    flushing = every(15_000, async () => await intake.rejections?.flush(), { onError: (err) => app.log.warn({ err }, 'could not record refusal counts') })
  })
  app.addHook('onClose', async () => {
    await flushing?.stop()
  })
  installErrorHandler(app, async (request, problem) => {
    if (problem.code !== 'audit-integrity') return
    const seq = problem.extra?.seq
    rt.metrics.integrityAlarms.inc({ source: 'served-line' })
    await raiseAlarm(rt.pool, request.log, rt.clock.now(), {
      seq: typeof seq === 'number' ? seq : undefined, source: `${request.method} ${request.routeOptions.url ?? request.url}`, reason: problem.message,
    })
  })
  app.addHook('onRequest', bindClientCertificate(rt.directory, { required: config.tlsClientCert === 'required' }))
  app.addHook('onRequest', async (request, reply) => {
    if (request.channelAgency) await agencyLimit(request, reply)
  })
  // Echo the request id so an integrator can quote it when asking what happened.
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  // Intake counted by outcome and problem code, and timed (leix_intake_*).
  const intakeProblems = new WeakMap<FastifyRequest, string>()
  app.addHook('onError', async (request, _reply, err) => {
    if (request.method === 'POST' && request.routeOptions.url === '/v1/messages') intakeProblems.set(request, toProblem(err).code)
  })
  app.addHook('onResponse', async (request, reply) => {
    if (request.method !== 'POST' || request.routeOptions.url !== '/v1/messages') return
    const outcome = reply.statusCode === 202 ? 'accepted' : reply.statusCode === 200 ? 'replayed' : 'rejected'
    rt.metrics.intake.inc({ outcome, problem: intakeProblems.get(request) ?? (outcome === 'rejected' ? String(reply.statusCode) : '') })
    rt.metrics.intakeSeconds.observe({ outcome }, reply.elapsedTime / 1000)
  })

  // The whole API. Public: signed by the sender (messages, witness statements) or for anyone.
  const { pool, clock, directory, brokerKey } = rt
  const witnessing = { ...services.witness.deps, pool, clock, origin: config.origin }
  await app.register(messageRoutes, { intake, bodyLimit: config.bodyLimitBytes, gate: services.intakeGate })
  await app.register(healthRoutes, { pool, sealerPool: rt.sealerPool, redis: rt.redis, extra: services.readiness, counts: () => readinessCounts(rt) })
  await app.register(directoryRoutes, { directory, brokerKey })
  await app.register(witnessRoutes, witnessing)
  await app.register(consoleRoutes)
  // Everything else needs a bearer token, checked once for the whole group.
  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', authenticate(rt))
    await authenticated.register(exchangeRoutes, { pool, clock })
    await authenticated.register(lineageRoutes, { pool, clock })
    await authenticated.register(reportRoutes, { pool, clock, minCount: config.reportMinCount })
    await authenticated.register(consultRoutes, { pool, clock, directory, justificationRetentionDays: config.justificationRetentionDays })
    await authenticated.register(inboxRoutes, { pool, clock })
    await authenticated.register(notificationRoutes, { pool, clock })
    await authenticated.register(adminRoutes, { pool, clock, directory, queue: rt.queue, log: app.log })
    await authenticated.register(reloadRoutes, { config, directory, brokerKey, pool, clock, tokenKeys: rt.tokenKeys })
    await authenticated.register(auditRoutes, {
      pool, sealerPool: rt.sealerPool, clock, key: brokerKey, origin: config.origin, notes: (cp) => cosignedNote(pool, brokerKey, cp),
    })
    await authenticated.register(witnessedCheckpointRoutes, witnessing)
    await authenticated.register(evidenceRoutes, { pool, clock, brokerKey, defaultWitnesses: services.witness.deps.witnesses.length > 0 ? 1 : 0 })
  })
  return app
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts refusals of unidentified requests (tests flush it). */
    leixRejections?: RejectionCounter
  }
}

function stripId (schema: Record<string, unknown>): Record<string, unknown> {
  const { $id: _id, $schema: _schema, ...rest } = schema
  return rest
}

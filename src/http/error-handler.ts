import type { Socket } from 'node:net'
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AuditIntegrityError } from '../audit/integrity.ts'
import { isConnectionError } from '../store/db.ts'
import { DomainError } from '../errors.ts'
import { PROBLEMS, problemBody } from './problems.ts'

/** Fastify's own error codes, mapped onto the catalogue. */
function fromFastify (err: FastifyError): DomainError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DomainError('payload-too-large', err.message)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DomainError('unsupported-media-type', err.message)
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new DomainError('bad-request', err.message)
  }
  if (err.validation) {
    return new DomainError('bad-request', err.message, {
      extra: { errors: err.validation.map((v) => ({ path: v.instancePath || `/${String(v.params?.missingProperty ?? '')}`, message: v.message ?? 'invalid' })) },
    })
  }
  // Any other client error Fastify raises keeps its meaning, as a problem.
  switch (err.statusCode) {
    case 404: return new DomainError('not-found', err.message)
    case 413: return new DomainError('payload-too-large', err.message)
    case 414: return new DomainError('uri-too-long', err.message)
    case 415: return new DomainError('unsupported-media-type', err.message)
    case 429: return new DomainError('rate-limited', err.message)
    case 431: return new DomainError('headers-too-large', err.message)
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return new DomainError('bad-request', err.message)
  return undefined
}

/**
 * Turns anything thrown into the DomainError that is answered: a DomainError as it is, the audit
 * log's integrity failure, an unreachable backing service, Fastify's own errors, else internal.
 */
export function toProblem (err: unknown): DomainError {
  if (err instanceof DomainError) return err
  // Never a silent answer: what is served about the log must be what the log hashed.
  if (err instanceof AuditIntegrityError) {
    return new DomainError('audit-integrity', `the audit log failed its integrity check (${err.message}); an alarm was raised and nothing was served`,
      { extra: err.seq !== undefined ? { seq: err.seq } : {} })
  }
  if (isConnectionError(err)) return new DomainError('unavailable', 'a backing service (PostgreSQL or Redis) is unreachable; retry later')
  return fromFastify(err as FastifyError) ?? new DomainError('internal', 'an internal error occurred; it has been logged')
}

/** Seconds a client is asked to wait before retrying a 503 (Retry-After). */
export const RETRY_AFTER_SECONDS = 5

/** Answers `problem` as problem+json with the status the catalogue gives its code. */
export function sendProblem (reply: FastifyReply, problem: DomainError, request: FastifyRequest): FastifyReply {
  const { status } = PROBLEMS[problem.code]
  if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(RETRY_AFTER_SECONDS))
  return reply.code(status).type('application/problem+json').send(problemBody(problem, request.url))
}

/** The one error handler: logs with the request, hides the internals of 5xx. */
export function installErrorHandler (app: FastifyInstance, onProblem?: (request: FastifyRequest, problem: DomainError) => Promise<void>): void {
  app.setErrorHandler(async (err, request, reply) => {
    const problem = toProblem(err)
    const { status } = PROBLEMS[problem.code]
    if (problem.code === 'unavailable') request.log.warn({ error: (err as Error).message, code: (err as { code?: string }).code }, 'backing service unavailable')
    else if (status >= 500 && problem.code === 'internal') request.log.error({ err, request: { method: request.method, url: request.url } }, 'request failed')
    else request.log.info({ code: problem.code, status }, problem.message)
    if (onProblem) await onProblem(request, problem).catch((e: unknown) => request.log.error({ err: e }, 'problem hook failed'))
    if (problem.code === 'rate-limited' && (err as { headers?: Record<string, string> }).headers) reply.headers((err as { headers: Record<string, string> }).headers)
    return sendProblem(reply, problem, request)
  })
  app.setNotFoundHandler((request, reply) => sendProblem(reply, new DomainError('not-found', `no route ${request.method} ${request.url.split('?')[0]}`), request))
}

/**
 * Fastify's clientErrorHandler: what Node's HTTP parser refuses (headers too large, a malformed
 * request line or header) is answered as problem+json too, then the connection is closed.
 */
export function answerClientError (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const problem = err.code === 'HPE_HEADER_OVERFLOW'
    ? new DomainError('headers-too-large', 'the request headers (or URL) are larger than the server accepts')
    : err.code === 'HPE_URI_TOO_LONG'
      ? new DomainError('uri-too-long', 'the request URL is too long')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new DomainError('bad-request', 'the request did not arrive in time')
        : new DomainError('bad-request', 'the request is not valid HTTP/1.1')
  const { status } = PROBLEMS[problem.code]
  const body = JSON.stringify(problemBody(problem))
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/problem+json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

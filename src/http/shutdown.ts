import type { FastifyInstance } from 'fastify'
import { sendProblem } from './error-handler.ts'
import { DomainError } from '../errors.ts'

/**
 * Graceful shutdown at the HTTP level. Once `app.close()` starts: every answer carries
 * `Connection: close` (so a keep-alive client's connection ends with its request in flight, and
 * the server closes as soon as that request is answered); a request arriving late on an open
 * connection gets `503 unavailable` (problem+json, Retry-After) instead of starting new work.
 * Idle keep-alive connections are closed at once by `server.close()` (Node >= 19). The app must be
 * built with Fastify's `return503OnClosing: false`, or Fastify answers late requests itself with
 * plain JSON before any hook runs.
 */
export function shutdownHooks (app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return
    reply.header('connection', 'close')
    return sendProblem(reply, new DomainError('unavailable', 'this instance is shutting down; retry the request'), request)
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}

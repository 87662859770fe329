import type { TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import type { Directory } from '../directory/types.ts'
import { Problem } from './problems.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The agency a verified client certificate binds this connection to (mutual TLS), if any. */
    channelAgency?: string
  }
}

/**
 * S4: when a client presents a certificate, it must chain to LEIX_TLS_CLIENT_CA and be bound to an
 * agency in the directory; the request may then act only as that agency. Clients without a
 * certificate are not affected (mutual TLS is available, not required).
 */
export function bindClientCertificate(directory: Directory) {
  return async function (request: FastifyRequest): Promise<void> {
    const socket = request.raw.socket as Partial<TLSSocket>
    if (typeof socket.getPeerCertificate !== 'function') return
    const cert = socket.getPeerCertificate()
    if (!cert || Object.keys(cert).length === 0) return
    if (!socket.authorized) throw new Problem('unauthorized', `client certificate rejected: ${String(socket.authorizationError ?? 'not trusted')}`)
    const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN
    const agency = cn ? directory.certificateOwners?.get(cn) : undefined
    if (!agency) throw new Problem('unauthorized', `client certificate ${cn ?? '(no CN)'} is not bound to any agency`)
    request.channelAgency = agency
  }
}

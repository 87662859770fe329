import type { TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import type { Directory } from '../directory/types.ts'
import { DomainError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The agency a verified client certificate binds this connection to (mutual TLS), if any. */
    channelAgency?: string
  }
}

/** OID of the TLS client authentication extended key usage. */
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

/**
 * S4: when a client presents a certificate, it must chain to LEIX_TLS_CLIENT_CA, not be revoked
 * (LEIX_TLS_CRL, checked by the TLS layer), carry the clientAuth extended key usage and be bound
 * to an agency in the directory; the request may then act only as that agency. With `required`
 * (LEIX_TLS_CLIENT_CERT=required) a request without a certificate is refused, whatever token it
 * carries; the orchestrator's health probes excepted.
 */
export function bindClientCertificate (directory: Directory, o: { required?: boolean } = {}) {
  return async function (request: FastifyRequest): Promise<void> {
    const socket = request.raw.socket as Partial<TLSSocket>
    const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined
    if (!cert || Object.keys(cert).length === 0) {
      if (o.required && !request.url.startsWith('/health/')) throw new DomainError('unauthorized', 'a client certificate is required (mutual TLS, S4)')
      return
    }
    if (!socket.authorized) throw new DomainError('unauthorized', `client certificate rejected: ${String(socket.authorizationError ?? 'not trusted')}`)
    if (!cert.ext_key_usage?.includes(CLIENT_AUTH)) throw new DomainError('unauthorized', 'client certificate rejected: it lacks the clientAuth extended key usage')
    const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN
    const agency = cn ? directory.certificateOwners?.get(cn) : undefined
    if (!agency) throw new DomainError('unauthorized', `client certificate ${cn ?? '(no CN)'} is not bound to any agency`)
    request.channelAgency = agency
  }
}

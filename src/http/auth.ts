import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Directory } from '../directory/types.ts'
import { Problem } from './problems.ts'

export const ROLES = ['system', 'officer', 'auditor', 'dpo', 'admin'] as const
export type Role = (typeof ROLES)[number]

/** Who is calling, from a verified bearer token. */
export interface Principal {
  /** Token subject: a person's or system's identifier. */
  sub: string
  agency: string
  roles: Role[]
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
}

/** The onRequest hook that `authenticate` builds, as routes take it. */
export type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** Verifies the bearer token and its claims; sets `request.principal`. */
export function authenticate(directory: Directory): Authenticate {
  return async function (request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (!request.headers.authorization) throw new Problem('unauthorized', 'send Authorization: Bearer <token>')
    let claims: Record<string, unknown>
    try {
      claims = await request.jwtVerify<Record<string, unknown>>()
    } catch (err) {
      throw new Problem('unauthorized', `bearer token rejected: ${(err as Error).message}`)
    }
    const { sub, agency, roles } = claims
    if (typeof sub !== 'string' || sub.length === 0) throw new Problem('unauthorized', 'token has no sub')
    if (typeof agency !== 'string' || !directory.agencies.has(agency)) throw new Problem('unauthorized', `token agency ${String(agency)} is not in the directory`)
    if (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => (ROLES as readonly string[]).includes(r))) {
      throw new Problem('unauthorized', `token roles must be a non-empty subset of ${ROLES.join(', ')}`)
    }
    if (request.channelAgency && request.channelAgency !== agency) {
      throw new Problem('unauthorized', `the client certificate speaks for ${request.channelAgency}, the token for ${agency} (S4)`)
    }
    request.principal = { sub, agency, roles: roles as Role[] }
  }
}

/** The principal, which `authenticate` guarantees on authenticated routes. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Problem('unauthorized', 'not authenticated')
  return request.principal
}

/** Throws forbidden unless the principal holds one of `roles`. */
export function requireRole(principal: Principal, ...roles: Role[]): void {
  if (!principal.roles.some((r) => roles.includes(r))) throw new Problem('forbidden', `requires one of the roles ${roles.join(', ')}`)
}

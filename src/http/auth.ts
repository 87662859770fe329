import type { FastifyReply, FastifyRequest } from 'fastify'
import * as jose from 'jose'
import { recordEvent, type AuditActor } from '../audit/record.ts'
import type { Runtime } from '../runtime.ts'
import { DomainError } from '../errors.ts'

export const ROLES = ['system', 'officer', 'auditor', 'dpo', 'admin', 'supervisor'] as const
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
  interface FastifyInstance {
    /** The per-agency rate limit, run once the agency is verified (app.ts). */
    leixAgencyLimit?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

/** The onRequest hook that `authenticate` builds; app.ts adds it once to the scope of the authenticated routes. */
export type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{1,8192}\.[A-Za-z0-9_-]{1,1024})$/

/**
 * Verifies the bearer token and its claims; sets `request.principal`. A token must be an EdDSA
 * JWT from the configured issuer's key set with `sub`, `agency`, `roles`, `iss`, `aud` (the
 * configured audience), `iat` and `exp` (`nbf` is checked when present), living no longer than
 * LEIX_TOKEN_MAX_LIFETIME. The role `supervisor` counts only for principals in LEIX_SUPERVISORS,
 * and every request a supervisor makes is recorded (`supervisor.read`) before it is answered.
 */
export function authenticate (rt: Pick<Runtime, 'config' | 'directory' | 'tokenKeys' | 'pool' | 'clock'>): Authenticate {
  const { config, directory } = rt
  const supervisors = new Set(config.supervisors)
  const maxLifetime = config.tokenMaxLifetimeSeconds
  return async function (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization
    if (!header) throw new DomainError('unauthorized', 'send Authorization: Bearer <token>')
    const match = BEARER.exec(header)
    if (!match) throw new DomainError('unauthorized', 'Authorization must be Bearer <compact JWT>')
    let claims: jose.JWTPayload
    try {
      ;({ payload: claims } = await jose.jwtVerify(match[1] as string, rt.tokenKeys.keySet, {
        algorithms: ['EdDSA'],
        issuer: config.tokenIssuer,
        audience: config.tokenAudience,
        requiredClaims: ['sub', 'iss', 'aud', 'iat', 'exp'],
        maxTokenAge: maxLifetime,
        clockTolerance: 30,
      }))
    } catch (err) {
      const why = err instanceof jose.errors.JOSEError ? err.code : 'invalid'
      throw new DomainError('unauthorized', `bearer token rejected (${why})`)
    }
    const { sub, agency, roles, iat, exp } = claims as jose.JWTPayload & { agency?: unknown; roles?: unknown }
    if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > maxLifetime) {
      throw new DomainError('unauthorized', `bearer token lives longer than ${maxLifetime} seconds (LEIX_TOKEN_MAX_LIFETIME)`)
    }
    if (typeof sub !== 'string' || !/^[A-Za-z0-9._@:-]{1,200}$/.test(sub)) throw new DomainError('unauthorized', 'token sub must be 1..200 characters of A-Z a-z 0-9 . _ @ : -')
    if (typeof agency !== 'string' || !directory.agencies.has(agency)) throw new DomainError('unauthorized', 'token agency is not in the directory')
    if (!Array.isArray(roles) || roles.length === 0 || roles.length > ROLES.length || !roles.every((r) => (ROLES as readonly string[]).includes(r))) {
      throw new DomainError('unauthorized', `token roles must be a non-empty subset of ${ROLES.join(', ')}`)
    }
    if (roles.includes('supervisor') && !supervisors.has(`${agency}/${sub}`)) {
      throw new DomainError('unauthorized', 'the role supervisor is granted only to principals listed in LEIX_SUPERVISORS')
    }
    if (request.channelAgency && request.channelAgency !== agency) {
      throw new DomainError('unauthorized', `the client certificate speaks for ${request.channelAgency}, the token for ${agency} (S4)`)
    }
    const principal = { sub, agency, roles: [...new Set(roles)] as Role[] }
    request.principal = principal
    if (request.server.leixAgencyLimit) await request.server.leixAgencyLimit(request, reply)
    if (principal.roles.includes('supervisor')) await recordSupervisorRead(rt, request, principal)
  }
}

/** Cross-agency reads are accountable: each one is an event before anything is answered. */
async function recordSupervisorRead (rt: Pick<Runtime, 'pool' | 'clock'>, request: FastifyRequest, p: Principal): Promise<void> {
  const details: Record<string, string> = { method: request.method, route: request.routeOptions.url ?? request.url.split('?')[0] ?? '' }
  for (const [k, v] of Object.entries((request.params ?? {}) as Record<string, unknown>)) details[`param.${k}`] = String(v).slice(0, 200)
  for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, unknown>)) details[`query.${k}`] = String(v).slice(0, 200)
  await recordEvent(rt.pool, {
    type: 'supervisor.read', actor: actorOf(p), agencies: [p.agency], outcome: 'ok', details,
  }, rt.clock.now())
}

/** The principal, which `authenticate` guarantees on authenticated routes. */
export function principalOf (request: FastifyRequest): Principal {
  if (!request.principal) throw new DomainError('unauthorized', 'not authenticated')
  return request.principal
}

/** The principal as the audit log names who acted: a person, by agency, token subject and roles. */
export function actorOf (p: Principal): AuditActor & { kind: 'person'; agency: string; id: string } {
  return { kind: 'person', agency: p.agency, id: p.sub, roles: p.roles }
}

/** Throws forbidden unless the principal holds one of `roles`. */
export function requireRole (principal: Principal, ...roles: Role[]): void {
  if (!principal.roles.some((r) => roles.includes(r))) throw new DomainError('forbidden', `requires one of the roles ${roles.join(', ')}`)
}

/** Whether the principal acts across agencies (a granted supervisor). */
export function isSupervisor (principal: Principal): boolean {
  return principal.roles.includes('supervisor')
}

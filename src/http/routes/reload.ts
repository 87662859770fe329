import type { FastifyInstance } from 'fastify'
import { ConfigError } from '../../config/config.ts'
import { DirectoryError } from '../../directory/load.ts'
import { reloadTrust, type ReloadDeps } from '../../directory/reload.ts'
import { DomainError } from '../../errors.ts'
import { actorOf, principalOf, requireRole } from '../auth.ts'
import { problemSchema } from '../problems.ts'

const names = { type: 'string', description: 'comma-separated ids or kids' } as const

/** POST /v1/admin/directory/reload: the hub operator's admin applies the deployed directory and key ring without restart. */
export async function reloadRoutes (app: FastifyInstance, deps: ReloadDeps): Promise<void> {
  app.post('/v1/admin/directory/reload', {
    schema: {
      operationId: 'reloadDirectory',
      summary: 'Reload the directory (LEIX_DIRECTORY) and the broker key ring (LEIX_BROKER_KEY) on this node; an invalid file is refused and the loaded one stays (admin)',
      tags: ['directory'],
      security: [{ bearer: [] }],
      response: {
        200: {
          description: 'The reloaded directory and broker key, recorded as directory.changed (and broker-key.rotated) audit events',
          type: 'object',
          required: ['digest', 'changed', 'brokerKey'],
          properties: {
            digest: { type: 'string', description: "base64url SHA-256 of the directory's RFC 8785 JSON" },
            changed: {
              type: 'object',
              properties: {
                agenciesAdded: { type: 'array', items: { type: 'string' } },
                agenciesRemoved: { type: 'array', items: { type: 'string' } },
                keysAdded: { type: 'array', items: { type: 'string' } },
                keysRemoved: { type: 'array', items: { type: 'string' } },
                keysRevoked: { type: 'array', items: { type: 'string' } },
              },
            },
            brokerKey: {
              type: 'object',
              properties: { previousKid: names, activeKid: names, rotated: { type: 'boolean' } },
            },
          },
        },
        '4xx': { description: 'problem+json', ...problemSchema },
      },
    },
  }, async (request) => {
    const principal = principalOf(request)
    requireRole(principal, 'admin')
    try {
      return await reloadTrust(deps, actorOf(principal) as { kind: 'person'; agency: string; id: string; roles: string[] })
    } catch (err) {
      if (err instanceof DirectoryError || err instanceof ConfigError) throw new DomainError('directory-invalid', err.message)
      throw err
    }
  })
}

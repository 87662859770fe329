import type { FastifyInstance } from 'fastify'
import { publicAgency } from '../../directory/load.ts'
import type { Directory } from '../../directory/types.ts'
import { publishedKeys, type SigningKey } from '../../config/keys.ts'

/** Public trust material: the broker's keys and the agency directory. */
export async function directoryRoutes (app: FastifyInstance, deps: { directory: Directory; brokerKey: SigningKey }): Promise<void> {
  app.get('/.well-known/jwks.json', {
    schema: {
      summary: "The broker's public keys: verify receipts, delivery signatures and audit checkpoints. The active key first; retired keys stay, with leix:validFrom/leix:validUntil, so that what they signed still verifies (pick by kid)",
      tags: ['directory'],
    },
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    // Read per request: a reload swaps the key ring in place.
    return publishedKeys(deps.brokerKey)
  })

  app.get('/v1/agencies', {
    schema: { summary: "Every agency's id, name, country (with its countryName, and the footnote that goes with Kosovo*), clearance, languages, delivery mode and public keys", tags: ['directory'] },
  }, async () => ({ agencies: [...deps.directory.agencies.values()].map(publicAgency) }))
}

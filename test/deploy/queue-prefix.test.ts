// A Redis Cluster deployment needs every key of a BullMQ queue in one hash slot: the queue prefix
// as a hash tag, `{…}`. Configuration accepts one, and intake then writes its queue keys under it.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { loadConfig } from '../../src/config/config.ts'
import { createRedis } from '../../src/delivery/queue.ts'
import { buildTestApp, requestMessage, sign, submit } from '../helpers.ts'

const PRODUCTION = { LEIX_DIRECTORY: '/etc/leix/directory.json', LEIX_TOKEN_AUDIENCE: 'https://leix.example' }
const prefix = (value: string) => loadConfig({ ...PRODUCTION, LEIX_QUEUE_PREFIX: value }).queuePrefix

t.test('a hash-tag prefix is valid configuration; a malformed one is refused', async (t) => {
  t.equal(prefix('{leix}'), '{leix}')
  t.equal(prefix('{leix}:prod'), '{leix}:prod', 'a hash tag, then more')
  t.equal(prefix('leix-prod.eu'), 'leix-prod.eu', 'plain prefixes as before')
  for (const bad of ['{}', 'leix}', '{leix', 'le{ix}', '{le ix}', 'a'.repeat(65), '{lei{x}}']) {
    t.throws(() => prefix(bad), { name: 'ConfigError', message: /queuePrefix \(LEIX_QUEUE_PREFIX\)/ }, JSON.stringify(bad))
  }
})

t.test('intake queues the delivery under the hash-tag prefix', async (t) => {
  const tag = `{leixtest-${randomUUID().slice(0, 8)}}`
  const { app, clock, config } = await buildTestApp(t, { config: { queuePrefix: tag } })
  const res = await submit(app, await sign(requestMessage(clock)))
  t.equal(res.statusCode, 202, res.body)
  const redis = createRedis(config.redisUrl)
  t.teardown(() => redis.disconnect())
  const keys = await redis.keys(`${tag}:deliveries:*`)
  t.ok(keys.length > 0, 'the delivery queue lives under the tag')
  t.ok(keys.every((k) => k.startsWith(`${tag}:`)), 'so a Cluster hashes all of them by the tag alone')
})

// Start-up is all or nothing: `leix serve` whose port is taken stops what it had started (the
// delivery workers, the audit loops) before it reports the error, and exits non-zero by itself.
import { createServer } from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { Queue } from 'bullmq'
import { kill, spawnLeix, waitUntil } from '../../scripts/chaos/services.ts'
import { createRedis, DELIVERY_QUEUE, NOTIFICATION_QUEUE } from '../../src/delivery/queue.ts'
import { createTestDatabase, migrateTestDatabase, testConfig } from '../helpers.ts'

t.test('`leix serve` on a taken port exits non-zero and leaves no worker running', async (t) => {
  const config = testConfig(await createTestDatabase(t))
  await migrateTestDatabase(config)
  const taken = createServer()
  taken.listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.teardown(() => new Promise((resolve) => taken.close(resolve)))
  const port = (taken.address() as { port: number }).port

  const serve = spawnLeix('serve', {
    DATABASE_URL: config.databaseUrl, LEIX_SEALER_DATABASE_URL: config.sealerDatabaseUrl, REDIS_URL: config.redisUrl,
    LEIX_QUEUE_PREFIX: config.queuePrefix, LEIX_DIRECTORY: config.directoryPath, LEIX_DEV_KEYS: 'true',
    PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', LEIX_METRICS_PORT: '0',
  })
  t.teardown(() => kill(serve))

  // BullMQ lists a queue's workers by their Redis client names.
  const connection = createRedis(config.redisUrl)
  t.teardown(() => connection.disconnect())
  const queues = [DELIVERY_QUEUE, NOTIFICATION_QUEUE].map((name) => new Queue(name, { connection, prefix: config.queuePrefix }))
  t.teardown(() => Promise.all(queues.map((q) => q.close())))
  const workers = async (): Promise<number> => (await Promise.all(queues.map((q) => q.getWorkers()))).flat().length

  // Generous: start-up under a loaded test machine, not a measure of speed.
  await waitUntil('leix serve to report the taken port or exit', () => /EADDRINUSE/.test(serve.output()) || !serve.alive(), 90_000)
  t.match(serve.output(), /EADDRINUSE/, 'the error names the taken port')
  t.equal(await workers(), 0, 'by the time the error is reported, no worker is running')
  const { code } = await Promise.race([
    serve.exited,
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`leix serve did not exit: ${serve.output()}`)), 60_000).unref()),
  ])
  t.not(code, 0, 'the exit code says it failed')
  t.not(code, null, 'it exited by itself, not by a signal')
})

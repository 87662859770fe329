// The `system` benchmark end to end, briefly: the gateway + 2 workers topology starts, takes an
// open-model load of valid signed messages, delivers them to the webhook, and yields figures.
// Asserts that figures came out, never what they are (no timed assertion).
import t from 'tap'
import { offer, startTopology } from '../../bench/system.ts'

t.test('the system scenario runs end to end and yields its figures', async (t) => {
  const topo = await startTopology('split')
  t.teardown(() => topo.stop())
  const f = await offer(topo, 10, 3)
  t.equal(f.sent, 30, 'every scheduled message was sent')
  for (const figure of [f.intakeP50Ms, f.intakeP99Ms, f.sealLagMaxS]) t.type(figure, 'number')
  t.ok(Number.isFinite(f.intakeP99Ms), 'an intake p99 was measured')
  t.type(f.why, 'string')
  t.equal(topo.processes.length, 3, 'one gateway and two workers')
})

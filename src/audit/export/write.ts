// Writing an export (the server's side): the lines in the order export/verify.ts expects.
import { VerificationError } from '../../errors.ts'
import { parseCheckpointUnverified } from '../checkpoint.ts'
import type { RangeNode } from '../merkle/proof.ts'
import { isCount } from '../merkle/sizes.ts'
import { checkpointLine, rangeLine, statementLine } from './format.ts'

export interface ExportPlan {
  /** Canonical event lines for seq start..end-1, in order (e.g. streamed from the database). */
  events: AsyncIterable<string> | Iterable<string>
  start: number
  end: number
  /** The covering checkpoint: treeSize >= end. */
  covering: string
  /** Checkpoints with start < treeSize < covering's, increasing; each goes after event treeSize - 1. */
  interim?: readonly string[]
  /** rangeProof(src, start, end, covering treeSize): required unless start = 0 and end = covering treeSize. */
  rangeNodes?: readonly RangeNode[]
  /** The signed statement (statement.ts) of this export: the last line. */
  statement: string
}

/** Yields the export's lines (without "\n") in the order verifyExport expects. */
export async function * exportLines (plan: ExportPlan): AsyncGenerator<string> {
  const sizeOf = (jws: string): number => parseCheckpointUnverified(jws).payload.treeSize
  const { start, end } = plan
  const treeSize = sizeOf(plan.covering)
  if (!isCount(start) || !isCount(end) || start >= end || end > treeSize) {
    throw new VerificationError('bad-export', `cannot export [${String(start)}, ${String(end)}) under a checkpoint of size ${treeSize}`)
  }
  const interim = (plan.interim ?? []).map((jws) => ({ jws, size: sizeOf(jws) }))
  interim.forEach(({ size }, i) => {
    if (size <= start || size >= treeSize || size > end || (i > 0 && size <= (interim[i - 1] as { size: number }).size)) {
      throw new VerificationError('bad-export', `interim checkpoint of size ${size} does not fit the export`)
    }
  })
  if (start > 0 || end < treeSize) {
    if (plan.rangeNodes === undefined) throw new VerificationError('bad-export', 'a partial export needs rangeNodes')
    yield rangeLine(start, end, treeSize, plan.rangeNodes)
  }
  let seq = start
  let next = 0
  for await (const line of plan.events) {
    if (seq >= end) throw new VerificationError('bad-export', `more event lines than [${start}, ${end})`)
    yield line
    seq++
    while (interim[next]?.size === seq) yield checkpointLine((interim[next++] as { jws: string }).jws)
  }
  if (seq !== end) throw new VerificationError('bad-export', `expected ${end - start} event lines, got ${seq - start}`)
  yield checkpointLine(plan.covering)
  yield statementLine(plan.statement)
}

// A worker thread of the offline verifier (export-file.ts): digests the blocks of an export file
// it is sent and hands the digests back; the verifier's own thread applies them in order.
import { parentPort } from 'node:worker_threads'
import { digestBatch } from '../audit/export/digest-batch.ts'

const port = parentPort
if (port === null) throw new Error('digest-worker runs as a worker thread')
port.on('message', ({ id, data }: { id: number, data: Uint8Array }) => {
  const batch = digestBatch(data)
  port.postMessage({ id, batch }, [batch.records])
})

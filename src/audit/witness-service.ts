// The broker's side of witnessing: checkpoints as C2SP signed notes, the tlog-witness add-checkpoint
// body handed to witnesses, their cosignatures (table audit_cosignatures) and their alarms (audit
// events `witness.alarm`, which also fail readiness until an operator has dealt with them).
import type { Service } from '../background.ts'
import { DomainError } from '../errors.ts'
import type { ReadinessCheck } from '../readiness.ts'
import type { Runtime } from '../runtime.ts'
import type { SigningKey } from '../config/keys.ts'
import type { Queryable } from '../store/db.ts'
import { parseCheckpointUnverified } from './checkpoint.ts'
import {
  SIG_ED25519, formatNote, logNoteKey, noteKey, parseNote, signCheckpointNote, verifyCheckpointNote, verifyCosignature,
  verifyNoteSignature, type CheckpointNote, type NoteKey,
} from './note.ts'
import { recordEvent } from './record.ts'
import { latestCheckpoint, storedConsistencyProof, type StoredCheckpoint } from './store.ts'
import { formatAddCheckpoint, parseWitnessKeys } from './witness.ts'

export interface Cosignature {
  witness: string
  /** Key id as 8 hex digits. */
  keyId: string
  /** When the witness cosigned (its timestamp), ISO 8601. */
  signedAt: string
  /** The signature line, "— name base64\n". */
  line: string
}

export interface WitnessDeps {
  db: Queryable
  brokerKey: SigningKey
  /** The configured witnesses (cosignature keys). */
  witnesses: readonly NoteKey[]
  /** See config.witnessRoundSeconds. */
  roundSeconds: number
  /** Told of each accepted alarm (the metrics counter). */
  onAlarm?: (witness: string) => void
}

interface CheckpointRow { tree_size: number; root_hash: Buffer; jws: string; created_at: Date }

const cpOf = (r: CheckpointRow): StoredCheckpoint =>
  ({ treeSize: Number(r.tree_size), rootHash: r.root_hash.toString('base64'), jws: r.jws, createdAt: r.created_at.toISOString() })

/** The checkpoint's note fields, from its (broker-signed) JWS payload. */
export function noteFields (cp: StoredCheckpoint): CheckpointNote {
  const { payload } = parseCheckpointUnverified(cp.jws)
  return { origin: payload.origin, treeSize: payload.treeSize, rootHash: payload.rootHash }
}

/** The cosignatures stored for one tree size, oldest witness first. */
export async function cosignaturesAt (db: Queryable, treeSize: number): Promise<Cosignature[]> {
  const { rows } = await db.query<{ witness: string; key_id: string; signed_at: Date; line: string }>(
    'SELECT witness, key_id, signed_at, line FROM audit_cosignatures WHERE tree_size = $1 ORDER BY witness, key_id', [treeSize])
  return rows.map((r) => ({ witness: r.witness, keyId: Number(r.key_id).toString(16).padStart(8, '0'), signedAt: r.signed_at.toISOString(), line: r.line }))
}

/** The checkpoint as a signed note: the broker's signature (Ed25519 is deterministic) and every stored cosignature. */
export async function cosignedNote (db: Queryable, brokerKey: SigningKey, cp: StoredCheckpoint): Promise<{ note: string; cosignatures: Cosignature[] }> {
  const signed = signCheckpointNote(noteFields(cp), brokerKey.privateKey)
  const cosignatures = await cosignaturesAt(db, cp.treeSize)
  const { text, signatures } = parseNote(signed)
  return { note: formatNote(text, [...signatures.map((s) => s.line), ...cosignatures.map((c) => c.line)]), cosignatures }
}

/**
 * The newest checkpoint cosigned by at least `min` distinct witnesses (min 0: the newest checkpoint).
 * Undefined if there is none.
 */
export async function witnessedCheckpoint (db: Queryable, min: number): Promise<StoredCheckpoint | undefined> {
  if (min <= 0) return await latestCheckpoint(db)
  const { rows } = await db.query<CheckpointRow>(
    `SELECT c.tree_size, c.root_hash, c.jws, c.created_at
       FROM audit_checkpoints c
       JOIN (SELECT tree_size FROM audit_cosignatures GROUP BY tree_size HAVING count(*) >= $1) s ON s.tree_size = c.tree_size
      ORDER BY c.tree_size DESC LIMIT 1`, [min])
  return rows[0] ? cpOf(rows[0]) : undefined
}

/**
 * The checkpoint to offer a witness whose last cosigned size is `old`: the newest one already
 * cosigned by another witness if it is at least `old` and at most `roundSeconds` older than the
 * newest checkpoint (so that witnesses asking at different moments converge on one checkpoint),
 * else the newest.
 */
export async function witnessTarget (db: Queryable, old: number, roundSeconds: number): Promise<StoredCheckpoint | undefined> {
  const { rows } = await db.query<CheckpointRow>(
    `SELECT c.tree_size, c.root_hash, c.jws, c.created_at
       FROM audit_checkpoints c
      WHERE c.tree_size >= $1
        AND EXISTS (SELECT 1 FROM audit_cosignatures s WHERE s.tree_size = c.tree_size)
        AND c.created_at >= (SELECT max(created_at) FROM audit_checkpoints) - make_interval(secs => $2)
      ORDER BY c.tree_size DESC LIMIT 1`, [old, roundSeconds])
  return rows[0] ? cpOf(rows[0]) : await latestCheckpoint(db)
}

/** The tlog-witness add-checkpoint body for a witness at `old`, or a problem. */
export async function addCheckpointBody (deps: WitnessDeps, old: number): Promise<{ body: string; treeSize: number }> {
  const cp = await witnessTarget(deps.db, old, deps.roundSeconds)
  if (cp === undefined) throw new DomainError('not-found', 'no checkpoint has been signed yet')
  if (old > cp.treeSize) {
    throw new DomainError('witness-conflict', `the witness cosigned size ${old}, but the newest checkpoint of this log has size ${cp.treeSize}`, { extra: { treeSize: cp.treeSize } })
  }
  const proof = old === 0 ? [] : await storedConsistencyProof(deps.db, old, cp.treeSize)
  const note = signCheckpointNote(noteFields(cp), deps.brokerKey.privateKey)
  return { body: formatAddCheckpoint({ oldSize: old, proof, note }), treeSize: cp.treeSize }
}

function brokerNoteKey (deps: WitnessDeps, origin: string): NoteKey {
  return logNoteKey(origin, deps.brokerKey.publicJwk)
}

/**
 * Stores the cosignatures in a cosigned checkpoint note sent by a witness: the note must be this
 * log's (broker signature) for a stored checkpoint with that root; each line by a configured
 * witness must verify. Returns the witnesses stored.
 */
export async function acceptCosignatures (deps: WitnessDeps, origin: string, body: string, now: Date): Promise<{ treeSize: number; witnesses: string[] }> {
  const verified = verifyCheckpointNote(body, [brokerNoteKey(deps, origin)])
  if (!verified.ok) throw new DomainError('bad-witness-statement', `not a checkpoint note of this log: ${verified.reason}`)
  const cp = verified.checkpoint
  const { rows } = await deps.db.query<{ root_hash: Buffer }>('SELECT root_hash FROM audit_checkpoints WHERE tree_size = $1', [cp.treeSize])
  if (!rows[0] || rows[0].root_hash.toString('base64') !== cp.rootHash) {
    throw new DomainError('bad-witness-statement', `this log has no checkpoint of size ${cp.treeSize} with root ${cp.rootHash}`)
  }
  const stored: string[] = []
  for (const sig of verified.note.signatures) {
    const key = deps.witnesses.find((k) => k.name === sig.name && k.keyId === sig.keyId)
    if (key === undefined) continue
    const timestamp = verifyCosignature(verified.note.text, sig, key)
    if (timestamp === undefined) throw new DomainError('bad-witness-statement', `the cosignature by ${key.name} does not verify over this checkpoint`)
    await deps.db.query(
      `INSERT INTO audit_cosignatures (tree_size, witness, key_id, signed_at, line, received_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (tree_size, witness, key_id) DO UPDATE SET signed_at = EXCLUDED.signed_at, line = EXCLUDED.line, received_at = EXCLUDED.received_at
       WHERE audit_cosignatures.signed_at < EXCLUDED.signed_at`,
      [cp.treeSize, key.name, key.keyId, new Date(timestamp * 1000), sig.line, now])
    stored.push(key.name)
  }
  if (stored.length === 0) throw new DomainError('unknown-witness', 'the note carries no cosignature by a configured witness (LEIX_WITNESSES)')
  return { treeSize: cp.treeSize, witnesses: stored }
}

// ---------------------------------------------------------------------------------------------
// Alarms

export const ALARM_HEADER = 'leix-witness-alarm/v1'

export interface WitnessAlarm {
  origin: string
  /** What the witness had cosigned. */
  cosigned: { treeSize: number; rootHash: string }
  /** What the log offered (absent when the log's newest checkpoint is smaller than the cosigned one). */
  offered?: { treeSize: number; rootHash: string }
  reason: string
  /** POSIX seconds. */
  time: number
}

/** The alarm's note text (one statement per line; the reason on one line). */
export function alarmText (alarm: WitnessAlarm): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  const oneLine = alarm.reason.replace(/[\u0000-\u001f]+/g, ' ').slice(0, 500)
  return `${ALARM_HEADER}\n${alarm.origin}\ncosigned ${alarm.cosigned.treeSize} ${alarm.cosigned.rootHash}\n` +
    `offered ${alarm.offered ? `${alarm.offered.treeSize} ${alarm.offered.rootHash}` : 'none'}\ntime ${alarm.time}\nreason ${oneLine}\n`
}

export function parseAlarmText (text: string): WitnessAlarm | undefined {
  const m = /^leix-witness-alarm\/v1\n(\S+)\ncosigned (\d{1,16}) (\S{44})\noffered (?:(\d{1,16}) (\S{44})|none)\ntime (\d{1,16})\nreason ([^\n]{0,500})\n$/.exec(text)
  if (!m) return undefined
  const [, origin, cs, cr, os, or, time, reason] = m as unknown as [string, string, string, string, string | undefined, string | undefined, string, string]
  return {
    origin, cosigned: { treeSize: Number(cs), rootHash: cr },
    ...(os !== undefined && or !== undefined ? { offered: { treeSize: Number(os), rootHash: or } } : {}),
    time: Number(time), reason,
  }
}

/** Verifies an alarm note signed (type 0x01) by a configured witness and records `witness.alarm`. */
export async function acceptAlarm (deps: WitnessDeps, body: string, now: Date): Promise<{ witness: string; alarm: WitnessAlarm }> {
  let note
  try {
    note = parseNote(body)
  } catch (err) {
    throw new DomainError('bad-witness-statement', (err as Error).message)
  }
  const alarm = parseAlarmText(note.text)
  if (alarm === undefined) throw new DomainError('bad-witness-statement', `the alarm text is not ${ALARM_HEADER}`)
  let witness: NoteKey | undefined
  for (const sig of note.signatures) {
    const configured = deps.witnesses.find((k) => k.name === sig.name)
    if (configured === undefined) continue
    const key = noteKey(configured.name, SIG_ED25519, configured.publicKey)
    if (sig.keyId !== key.keyId) continue
    if (!verifyNoteSignature(note.text, sig, key)) throw new DomainError('bad-witness-statement', `the alarm signature by ${key.name} does not verify`)
    witness = configured
    break
  }
  if (witness === undefined) throw new DomainError('unknown-witness', 'the alarm is not signed by a configured witness (LEIX_WITNESSES)')
  await recordEvent(deps.db, {
    type: 'witness.alarm', actor: { kind: 'witness', id: witness.name }, agencies: [], outcome: 'failed', reason: 'inconsistent-checkpoint',
    details: {
      witness: witness.name, origin: alarm.origin, cosignedSize: alarm.cosigned.treeSize, cosignedRoot: alarm.cosigned.rootHash,
      offeredSize: alarm.offered?.treeSize ?? null, offeredRoot: alarm.offered?.rootHash ?? null,
      witnessTime: new Date(alarm.time * 1000).toISOString(), statement: alarm.reason,
    },
  }, now)
  deps.onAlarm?.(witness.name)
  return { witness: witness.name, alarm }
}

export interface AlarmView { at: string; witness: string; details: Record<string, unknown> }

/** Alarms recorded (sealed or not), newest first. */
export async function listAlarms (db: Queryable, limit = 100): Promise<AlarmView[]> {
  const { rows } = await db.query<{ at: Date; actor: string; event: { details?: Record<string, unknown> } }>(
    "SELECT at, actor, event FROM audit_events WHERE type = 'witness.alarm' ORDER BY at DESC LIMIT $1", [limit])
  return rows.map((r) => ({ at: r.at.toISOString(), witness: r.actor, details: r.event.details ?? {} }))
}

/** The newest alarm of a witness that has not cosigned since, if any. */
export async function activeAlarm (db: Queryable): Promise<AlarmView | undefined> {
  const { rows } = await db.query<{ at: Date; actor: string; event: { details?: Record<string, unknown> } }>(
    `SELECT a.at, a.actor, a.event FROM audit_events a
      WHERE a.type = 'witness.alarm'
        AND NOT EXISTS (SELECT 1 FROM audit_cosignatures c WHERE c.witness = a.actor AND c.received_at > a.at)
      ORDER BY a.at DESC LIMIT 1`)
  const r = rows[0]
  return r ? { at: r.at.toISOString(), witness: r.actor, details: r.event.details ?? {} } : undefined
}

export interface WitnessService extends Service {
  /** What the witness and evidence routes work with: the configured witnesses and the broker key. */
  deps: WitnessDeps
  readiness: ReadinessCheck
}

/** Witnessing beside the log: the configured witnesses, and a readiness check failing on an active alarm. */
export async function witnessService (rt: Runtime): Promise<WitnessService> {
  const deps: WitnessDeps = {
    db: rt.pool, brokerKey: rt.brokerKey, witnesses: parseWitnessKeys(rt.config.witnesses), roundSeconds: rt.config.witnessRoundSeconds,
    onAlarm: (witness) => rt.metrics.witnessAlarms.inc({ witness }),
  }
  rt.metrics.sources.witnessAlarmActive = async () => (await activeAlarm(rt.pool)) !== undefined
  return {
    deps,
    readiness: {
      name: 'witness',
      check: async () => {
        const alarm = await activeAlarm(rt.pool)
        // A witness proved that the log contradicts a checkpoint it cosigned: not ready until that
        // witness cosigns again (it only does once the log is consistent with what it cosigned).
        return alarm ? `witness ${alarm.witness} raised an alarm at ${alarm.at}: ${String(alarm.details.statement ?? '')} (GET /v1/witness/alarms)` : undefined
      },
    },
    async stop () {},
  }
}

// `import { LeixClient } from 'leix/client'`: a small typed client of leix's HTTP API for an
// agency's system or an auditor. Signs with the agency's key (jose), and verifies what the broker
// signs (receipts, pushed deliveries and notifications, checkpoints, inclusion proofs) against the
// broker's JWKS, picking the key by kid. Every instance holds its own connection pool; nothing is
// shared between instances.
import { randomUUID } from 'node:crypto'
import * as jose from 'jose'
import { Agent, fetch, type Dispatcher } from 'undici'
import { verifyCheckpoint } from '../audit/checkpoint.ts'
import { leafHash, parseHashBase64 } from '../audit/merkle/hash.ts'
import { verifyInclusion } from '../audit/merkle/verify.ts'
import type { SigningKey } from '../config/keys.ts'
import { verifyDelivery, verifyNotification } from '../delivery/signature.ts'
import { VerificationError } from '../errors.ts'
import { verifyReceipt } from '../intake/receipt.ts'
import { MESSAGE_TYP } from '../intake/verify.ts'
import type {
  AckResult, CheckpointAnswer, DeliveryAttestation, ExchangeDetail, ExchangeFilters, ExchangeList, InboxPage, Lineage, InclusionProof,
  NotificationBody, NotificationPage, ProblemBody, ReceiptBody, ReportQuery, SteeringReport, SubmitAnswer, VerifiedInclusion,
} from './types.ts'

export type * from './types.ts'
export type { SigningKey }
export { VerificationError }

/** PEM text or bytes, or several (a CA bundle). */
export type PemInput = string | Buffer | readonly (string | Buffer)[]

export interface LeixClientOptions {
  /** leix's base URL, e.g. https://leix.example:8443 */
  baseUrl: string
  /** A bearer token (officer, system, auditor...): needed by everything but submit and the JWKS. */
  token?: string
  /** Trust these CAs for the broker's certificate (instead of the system's). */
  ca?: PemInput
  /** Client certificate and key for mutual TLS (the directory's tlsClientSubjects). */
  cert?: PemInput
  key?: PemInput
}

/** leix answered with an error status; `problem` is its problem+json when it sent one. */
export class LeixApiError extends Error {
  readonly status: number
  readonly problem: ProblemBody | undefined
  readonly body: unknown
  constructor (method: string, path: string, status: number, body: unknown) {
    const problem = isProblem(body) ? body : undefined
    super(`${method} ${path}: ${status} ${problem ? `${problem.code ?? problem.type}: ${problem.detail ?? problem.title ?? ''}` : typeof body === 'string' ? body : JSON.stringify(body)}`)
    this.name = 'LeixApiError'
    this.status = status
    this.problem = problem
    this.body = body
  }
}

/** leix could not be reached (DNS, refused, TLS). */
export class LeixConnectionError extends Error {
  constructor (readonly url: string, cause: unknown) {
    const inner = (cause as { cause?: unknown }).cause ?? cause
    super(`cannot reach ${url}: ${inner instanceof Error ? inner.message : String(inner)}`, { cause })
    this.name = 'LeixConnectionError'
  }
}

export function isProblem (body: unknown): body is ProblemBody {
  return typeof body === 'object' && body !== null && typeof (body as { type?: unknown }).type === 'string'
}

/**
 * A message as the compact JWS leix accepts (typ leix-message+json), signed with the agency's key.
 * With `fresh`, a new id and createdAt = now (the message object is not changed).
 */
export async function signMessage (message: Record<string, unknown>, key: SigningKey, o: { fresh?: boolean; now?: Date } = {}): Promise<string> {
  const payload = o.fresh ? { ...message, id: randomUUID(), createdAt: (o.now ?? new Date()).toISOString() } : message
  return await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: MESSAGE_TYP })
    .sign(key.privateKey)
}

/**
 * Checks an inclusion proof offline: the line hashes to the leaf, the audit path leads from it to
 * the checkpoint's root, and the checkpoint is signed by a key of `jwks` (by kid).
 * Throws VerificationError otherwise.
 */
export async function verifyInclusionProof (proof: InclusionProof, jwks: jose.JSONWebKeySet): Promise<VerifiedInclusion> {
  const checkpoint = await verifyCheckpoint(proof.checkpoint.jws, jwks)
  if (checkpoint.treeSize !== proof.treeSize) throw new VerificationError('bad-proof', `the proof is for tree size ${proof.treeSize}, the checkpoint for ${checkpoint.treeSize}`)
  const leaf = leafHash(Buffer.from(proof.line, 'utf8'))
  const claimed = parseHashBase64(proof.leafHash)
  if (!claimed || !claimed.equals(leaf)) throw new VerificationError('bad-proof', 'the leaf hash is not SHA-256(0x00 ‖ line)')
  const path = proof.auditPath.map((h, i) => {
    const bytes = parseHashBase64(h)
    if (!bytes) throw new VerificationError('bad-proof', `audit path node ${i} is not a base64 SHA-256 hash`)
    return bytes
  })
  const root = parseHashBase64(checkpoint.rootHash) as Buffer
  if (!verifyInclusion(leaf, proof.seq, checkpoint.treeSize, path, root)) {
    throw new VerificationError('bad-proof', `seq ${proof.seq} is not in the signed tree of size ${checkpoint.treeSize}`)
  }
  return { seq: proof.seq, event: JSON.parse(proof.line) as Record<string, unknown>, checkpoint }
}

function withQuery (path: string, query: URLSearchParams): string {
  const q = query.toString()
  return q ? `${path}?${q}` : path
}

function pems (input: PemInput | undefined): string | Buffer | (string | Buffer)[] | undefined {
  return input === undefined ? undefined : typeof input === 'string' || Buffer.isBuffer(input) ? input : [...input]
}

export class LeixClient {
  readonly baseUrl: string
  readonly #token: string | undefined
  readonly #dispatcher: Dispatcher | undefined

  constructor (o: LeixClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, '')
    this.#token = o.token
    if (o.ca !== undefined || o.cert !== undefined || o.key !== undefined) {
      if ((o.cert === undefined) !== (o.key === undefined)) throw new TypeError('cert and key go together (mutual TLS)')
      const connect = { ca: pems(o.ca), cert: pems(o.cert), key: pems(o.key) }
      this.#dispatcher = new Agent({ connect: Object.fromEntries(Object.entries(connect).filter(([, v]) => v !== undefined)) })
    }
  }

  /** Closes this client's own connections (when it was given TLS options). */
  async close (): Promise<void> {
    await this.#dispatcher?.close()
  }

  /**
   * One request; resolves with the parsed JSON (or text) of a 2xx answer, rejects with
   * LeixApiError for any other status and LeixConnectionError when leix cannot be reached.
   */
  async request<T> (method: 'GET' | 'POST', path: string, o: { body?: string; contentType?: string; auth?: boolean } = {}): Promise<T> {
    const url = `${this.baseUrl}${path}`
    const headers: Record<string, string> = {}
    if (o.contentType) headers['content-type'] = o.contentType
    if (o.auth !== false) {
      if (!this.#token) throw new TypeError(`${method} ${path} needs a bearer token`)
      headers.authorization = `Bearer ${this.#token}`
    }
    let res: Awaited<ReturnType<typeof fetch>>
    try {
      res = await fetch(url, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}), ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}) })
    } catch (err) {
      throw new LeixConnectionError(url, err)
    }
    const text = await res.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {}
    if (res.status >= 300) throw new LeixApiError(method, path, res.status, body)
    return body as T
  }

  /** The broker's public keys (GET /.well-known/jwks.json); several during a key rotation. */
  async jwks (): Promise<jose.JSONWebKeySet> {
    return await this.request<jose.JSONWebKeySet>('GET', '/.well-known/jwks.json', { auth: false })
  }

  /** POST /v1/messages with a signed compact JWS. */
  async submit (jws: string): Promise<SubmitAnswer> {
    return await this.request<SubmitAnswer>('POST', '/v1/messages', { body: jws, contentType: 'application/jose', auth: false })
  }

  /** Signs and submits; the JWS is returned too, so the receipt can be checked against its bytes. */
  async send (message: Record<string, unknown>, key: SigningKey, o: { fresh?: boolean } = {}): Promise<{ jws: string; answer: SubmitAnswer }> {
    const jws = await signMessage(message, key, o)
    return { jws, answer: await this.submit(jws) }
  }

  /** A receipt's broker signature and, given the JWS sent, that it covers exactly those bytes. */
  async verifyReceipt (receipt: string, jws?: string, jwks?: jose.JSONWebKeySet): Promise<ReceiptBody> {
    return await verifyReceipt(receipt, jwks ?? (await this.jwks()), jws)
  }

  async exchange (id: string): Promise<ExchangeDetail> {
    return await this.request<ExchangeDetail>('GET', `/v1/exchanges/${encodeURIComponent(id)}`)
  }

  /** Q3: every message and exchange that carried data derived from message `id` (its provider or a supervisor). */
  async lineage (id: string): Promise<Lineage> {
    return await this.request<Lineage>('GET', `/v1/messages/${encodeURIComponent(id)}/derived`)
  }

  async exchanges (filters: ExchangeFilters = {}): Promise<ExchangeList> {
    const query = new URLSearchParams()
    for (const [name, value] of Object.entries(filters)) if (value !== undefined) query.set(name, String(value))
    return await this.request<ExchangeList>('GET', withQuery('/v1/exchanges', query))
  }

  /** The Steering Group report (R1) as JSON: aggregates of the exchanges opened in [from, to); null cells are suppressed. */
  async report (q: ReportQuery): Promise<SteeringReport> {
    return await this.request<SteeringReport>('GET', reportPath(q, 'json'))
  }

  /** The Steering Group report as CSV (one table, a `section` column) or as an SVG chart of timeliness per pair. */
  async reportText (q: ReportQuery, format: 'csv' | 'svg'): Promise<string> {
    const body = await this.request<unknown>('GET', reportPath(q, format))
    return typeof body === 'string' ? body : JSON.stringify(body)
  }

  /** The agency's unacknowledged messages (role system); each fetch is logged as a disclosure. */
  async inbox (o: { limit?: number; cursor?: string } = {}): Promise<InboxPage> {
    const query = new URLSearchParams()
    if (o.limit !== undefined) query.set('limit', String(o.limit))
    if (o.cursor !== undefined) query.set('cursor', o.cursor)
    return await this.request<InboxPage>('GET', withQuery('/v1/inbox', query))
  }

  /** Acknowledges a received message (idempotent). */
  async ack (messageId: string): Promise<AckResult> {
    return await this.request<AckResult>('POST', `/v1/inbox/${encodeURIComponent(messageId)}/ack`)
  }

  /** The agency's notifications after `after` (the nextCursor of the previous page). */
  async notifications (o: { after?: number; limit?: number } = {}): Promise<NotificationPage> {
    const query = new URLSearchParams()
    if (o.after !== undefined) query.set('after', String(o.after))
    if (o.limit !== undefined) query.set('limit', String(o.limit))
    return await this.request<NotificationPage>('GET', withQuery('/v1/notifications', query))
  }

  /** A pushed delivery's Leix-Delivery-Signature, checked against the body and recipient when given. */
  async verifyDelivery (signature: string, expect: { body?: string; recipient?: string } = {}, jwks?: jose.JSONWebKeySet): Promise<DeliveryAttestation> {
    return await verifyDelivery(signature, jwks ?? (await this.jwks()), expect)
  }

  /** A pushed notification (the whole request body). */
  async verifyNotification (jws: string, jwks?: jose.JSONWebKeySet): Promise<NotificationBody> {
    return await verifyNotification(jws, jwks ?? (await this.jwks()))
  }

  /** The newest signed checkpoint, or the one of `treeSize`. */
  async checkpoint (treeSize?: number): Promise<CheckpointAnswer> {
    return await this.request<CheckpointAnswer>('GET', `/v1/audit/checkpoints/${treeSize === undefined ? 'latest' : String(treeSize)}`)
  }

  /** An event's inclusion proof in the newest checkpoint (or the one of `treeSize`), unverified. */
  async inclusionProof (seq: number, treeSize?: number): Promise<InclusionProof> {
    const query = new URLSearchParams({ seq: String(seq) })
    if (treeSize !== undefined) query.set('treeSize', String(treeSize))
    return await this.request<InclusionProof>('GET', withQuery('/v1/audit/proofs/inclusion', query))
  }

  /** Fetches an inclusion proof and verifies it offline against the broker's keys. */
  async proveEvent (seq: number, o: { treeSize?: number; jwks?: jose.JSONWebKeySet } = {}): Promise<VerifiedInclusion> {
    const proof = await this.inclusionProof(seq, o.treeSize)
    return await verifyInclusionProof(proof, o.jwks ?? (await this.jwks()))
  }
}

function reportPath (q: ReportQuery, format: 'json' | 'csv' | 'svg'): string {
  const query = new URLSearchParams({ from: q.from, to: q.to })
  if (q.agency !== undefined) query.set('agency', q.agency)
  if (format !== 'json') query.set('format', format)
  return withQuery('/v1/reports/exchanges', query)
}

// The answers of leix's HTTP API as a client reads them (README "HTTP API", GET /docs/json).
import type { AckResult, InboxItem } from '../delivery/inbox.ts'
import type { NotificationView } from '../delivery/notifications.ts'
import type { DeliveryAttestation, NotificationBody } from '../delivery/signature.ts'
import type { ReceiptBody } from '../intake/receipt.ts'
import type { Checkpoint, VerifiedCheckpoint } from '../audit/checkpoint.ts'

export type { AckResult, Checkpoint, DeliveryAttestation, InboxItem, NotificationBody, NotificationView, ReceiptBody, VerifiedCheckpoint }
export type { SteeringReport } from '../reports/steering.ts'

/** GET /v1/reports/exchanges: the period [from, to) (ISO dates or date-times) and, for a supervisor, an agency. */
export interface ReportQuery { from: string; to: string; agency?: string }

/** POST /v1/messages: the broker's answer, with its signed receipt. */
export interface SubmitAnswer {
  exchangeId: string
  messageId: string
  status: string
  deadline: string | null
  receipt: string
}

/** One hop of an exchange's timeline (GET /v1/exchanges/{id}). */
export interface TimelineEntry {
  /** The audit event's seq once sealed (prove it with GET /v1/audit/proofs/inclusion); null before. */
  seq?: number | null
  at: string
  event: string
  actor?: string
  outcome: string
  reason?: string
}

/** One exchange as the caller's agency sees it (GET /v1/exchanges items). */
export interface ExchangeSummary {
  id: string
  requester: string
  responder: string
  direction: 'outgoing' | 'incoming'
  kind: 'request' | 'spontaneous'
  caseRef: string
  crimeAreas: string[]
  legalBasis: string
  urgency: 'urgent' | 'normal'
  status: string
  deadline: string | null
  /** Negative when overdue; null when no deadline runs. */
  timeLeftSeconds: number | null
  overdue: boolean
}

/** GET /v1/exchanges/{id}. */
export interface ExchangeDetail extends ExchangeSummary {
  timeline: TimelineEntry[]
}

/** GET /v1/messages/{id}/derived (Q3): the messages and exchanges that carried data derived from a message. */
export interface Lineage {
  messageId: string
  exchangeId: string
  provider: string
  exchanges: string[]
  derived: {
    messageId: string
    exchangeId: string
    kind: string
    sender: string
    recipient: string
    status: string
    receivedAt: string
    /** The origin message it named on the way from the root. */
    origin: string
    depth: number
  }[]
}

/** GET /v1/exchanges: a page, newest first. */
export interface ExchangeList {
  items: ExchangeSummary[]
  nextCursor: string | null
}

/** Query of GET /v1/exchanges. */
export interface ExchangeFilters {
  direction?: 'incoming' | 'outgoing'
  status?: string
  crimeArea?: string
  overdue?: boolean
  limit?: number
  cursor?: string
}

/** GET /v1/inbox: the caller agency's messages not yet acknowledged, oldest first. */
export interface InboxPage {
  items: InboxItem[]
  nextCursor: string | null
}

/** GET /v1/notifications: poll again with after = nextCursor. */
export interface NotificationPage {
  items: NotificationView[]
  nextCursor: number | null
}

/** A signed checkpoint as GET /v1/audit/checkpoints/... answers it. */
export interface CheckpointAnswer extends Checkpoint {
  /** Compact JWS by the broker key (typ leix-checkpoint+json). */
  jws: string
  note?: string
  cosignatures?: unknown[]
}

/** GET /v1/audit/proofs/inclusion. Hashes are standard base64. */
export interface InclusionProof {
  seq: number
  treeSize: number
  leafHash: string
  /** The event's canonical line (RFC 8785): the leaf hash is SHA-256(0x00 ‖ line). */
  line: string
  /** Nearest the leaf first. */
  auditPath: string[]
  checkpoint: CheckpointAnswer
}

/** An inclusion proof checked offline: the line is in the tree the broker signed. */
export interface VerifiedInclusion {
  seq: number
  /** The parsed event line. */
  event: Record<string, unknown>
  checkpoint: VerifiedCheckpoint
}

/** An application/problem+json answer (RFC 9457), with leix's extensions. */
export interface ProblemBody {
  type: string
  title?: string
  detail?: string
  code?: string
  violations?: { rule: string; path: string; message: string }[]
  errors?: { path: string; message: string }[]
}
